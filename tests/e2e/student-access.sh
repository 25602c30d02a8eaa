#!/bin/bash
# End-to-end: student access (issue 5) on one real tiny guest under qemu:///embed.
#   connect / connect --tunnel print the exact ssh lines; -o json connect carries the
#   known_hosts line and the fingerprint of the real host key; students export writes a
#   folder (key 0600) from which stock OpenSSH logs in; `classlab tunnel` carries the
#   guest's busybox httpd on 127.0.0.1:8888 (one page, 20 concurrent requests, a 16 MiB
#   download with the same SHA-256), moves off a busy local port, stops on SIGINT with
#   exit 0; a changed host key is refused by classlab (exit 5, both fingerprints named)
#   and by OpenSSH with the regenerated ssh-config.
# Exit: 0 pass, 1 fail, 77 skipped (reason on stderr).
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
need_guest qemu-system-x86_64 qemu-img sqlite3 ssh ssh-keygen ssh-keyscan curl sha256sum python3

unset CLASSLAB_DB CLASSLAB_URI LIBVIRT_DEFAULT_URI
H=$(mktemp -d /tmp/cle.XXXX) || exit 1
export CLASSLAB_HOME=$H
LAB=e2e-one
S=alice
VM=$LAB-$S
LABFILE=$H/one.json
DB=$H/classlab.db
T=$H/t
mkdir -p "$T"
sed 's/"public_host": "127.0.0.1",/&\n  "port_range": [51000, 51999],/' "$CL_TEST_DATA/labs/one.json" >"$LABFILE"
TUN_PID='' HOLD_PID=''

# shellcheck disable=SC2317 # called through trap
cleanup() {
	local rc=$?
	trap - EXIT
	[ -n "$TUN_PID" ] && kill "$TUN_PID" 2>/dev/null
	[ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
	if [ "$rc" != 0 ] && [ -f "$H/console/$VM.log" ]; then
		echo "---- last lines of $H/console/$VM.log ----" >&2
		tail -n 20 "$H/console/$VM.log" | tr -d '\r' >&2
	fi
	"$CLASSLAB" -q down "$LAB" --yes >/dev/null 2>&1
	discard_dir "$H"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

START=$(date +%s)
nostrictoff() { # no output of classlab weakens host key checking
	if grep -Eqi 'StrictHostKeyChecking[ =]+(no|accept-new|off)' "$@"; then
		fail "classlab printed StrictHostKeyChecking no/accept-new ($*)"
	fi
}
ssh_cfg() { ssh -F "$T/ssh_config" -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR "$@"; }

# start_tunnel ARGS...: `classlab tunnel` in the background; sets TUN_PID and TUN_PORT.
start_tunnel() {
	: >"$T/tun.out"
	"$CLASSLAB" tunnel "$LAB" "$S" "$@" >"$T/tun.out" 2>"$T/tun.err" &
	TUN_PID=$!
	TUN_PORT=
	local i
	for i in $(seq 150); do
		TUN_PORT=$(sed -n "s|^Forwarding http://localhost:\([0-9][0-9]*\) -> $VM:8888\$|\1|p" "$T/tun.out")
		[ -n "$TUN_PORT" ] && return 0
		kill -0 "$TUN_PID" 2>/dev/null || { cat "$T/tun.out" "$T/tun.err" >&2; fail "classlab tunnel $* exited"; }
		sleep 0.1
	done
	cat "$T/tun.out" "$T/tun.err" >&2
	fail "classlab tunnel $* printed no 'Forwarding http://localhost:PORT -> $VM:8888' line"
}
stop_tunnel() { # SIGINT; the tunnel must exit 0
	kill -INT "$TUN_PID"
	local rc i
	for i in $(seq 100); do kill -0 "$TUN_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$TUN_PID" 2>/dev/null && fail "classlab tunnel still runs 10 s after SIGINT"
	wait "$TUN_PID"
	rc=$?
	TUN_PID=
	[ "$rc" = 0 ] || { cat "$T/tun.err" >&2; fail "classlab tunnel exited $rc on SIGINT, want 0"; }
}

# --- up ------------------------------------------------------------------------------------
t0=$(date +%s)
must up "$LABFILE"
UP_S=$(($(date +%s) - t0))
PORT=$(sqlite3 "$DB" "select ssh_port from vms where name='$VM'")
[ -n "$PORT" ] || fail "no ssh_port for $VM"
pass "up in $UP_S s ($VM on 127.0.0.1:$PORT)"

# --- connection strings ----------------------------------------------------------------------
must connect "$LAB" "$S"
[ "$(cat "$T/out")" = "ssh -p $PORT student@127.0.0.1" ] || fail "connect printed '$(cat "$T/out")'"
must connect "$LAB" "$S" --tunnel
[ "$(cat "$T/out")" = "ssh -L 8888:localhost:8888 -p $PORT student@127.0.0.1" ] ||
	fail "connect --tunnel printed '$(cat "$T/out")'"
must connect "$LAB" "$S" --x2go
nostrictoff "$T/out"
grep -q "$PORT" "$T/out" && grep -qi 'xfce' "$T/out" || fail "connect --x2go: no SSH port or XFCE: $(cat "$T/out")"
pass "connect: '$(head -c 60 <<<"ssh -p $PORT student@127.0.0.1")'; --tunnel: 'ssh -L 8888:localhost:8888 -p $PORT student@127.0.0.1'"

must -o json connect "$LAB" "$S"
python3 - "$T/out" >"$T/json" <<'PY' || fail "-o json connect: bad JSON: $(cat "$T/out")"
import json, sys
o = json.load(open(sys.argv[1]))
print(o["known_hosts_line"])
print(o["host_key_fingerprint"])
PY
KH_LINE=$(sed -n 1p "$T/json")
FP=$(sed -n 2p "$T/json")
HK_DIR=$H/labs/$LAB/hostkeys/$VM
HK_PUB=$(ls "$HK_DIR"/*ed25519*.pub 2>/dev/null | head -n1)
[ -n "$HK_PUB" ] || fail "no ed25519 host public key under $HK_DIR: $(ls -l "$HK_DIR" 2>&1)"
WANT_FP=$(ssh-keygen -lf "$HK_PUB" | awk '{ print $2 }')
[ "$FP" = "$WANT_FP" ] || fail "host_key_fingerprint $FP, ssh-keygen -lf $HK_PUB says $WANT_FP"
[ "$KH_LINE" = "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$HK_PUB")" ] || fail "known_hosts_line '$KH_LINE'"
grep -qxF "$KH_LINE" "$H/labs/$LAB/known_hosts" || fail "known_hosts_line is not in the lab's known_hosts"
# What the guest really offers is the pinned key.
ssh-keyscan -T 20 -t ed25519 -p "$PORT" 127.0.0.1 2>/dev/null | grep -v '^#' >"$T/scan"
[ "$(cat "$T/scan")" = "$KH_LINE" ] || fail "ssh-keyscan: '$(cat "$T/scan")', want '$KH_LINE'"
for f in "$H/labs/$LAB/students/$S/id_ed25519" "$HK_DIR"/*_key; do
	[ -f "$f" ] || continue
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f is mode $(stat -c %a "$f"), want 600"
done
pass "-o json connect: known_hosts_line and $FP match the host key and what the guest offers; keys 0600"

must ssh-config "$LAB"
cp "$T/out" "$T/ssh_config"
nostrictoff "$T/ssh_config"
[ "$(ssh_cfg "$VM" hostname)" = "$VM" ] || fail "ssh -F <ssh-config> $VM hostname"
pass "stock OpenSSH with ssh-config logs in"

# --- students export ------------------------------------------------------------------------------
EXP=$H/export
must students export "$LAB" "$S" "$EXP"
for f in id_ed25519 ssh_config known_hosts; do [ -s "$EXP/$f" ] || fail "export wrote no $f: $(ls -l "$EXP")"; done
[ "$(stat -c %a "$EXP/id_ed25519")" = 600 ] || fail "exported key is mode $(stat -c %a "$EXP/id_ed25519")"
nostrictoff "$EXP"/*
got=$(cd "$EXP" && ssh -F ssh_config -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR "$VM" hostname) ||
	fail "ssh -F ssh_config from the exported folder failed"
[ "$got" = "$VM" ] || fail "exported ssh_config: hostname '$got'"
pass "students export: $(cd "$EXP" && ls | tr '\n' ' ')(key 0600); ssh -F ssh_config from inside logs in"

# --- tunnel -------------------------------------------------------------------------------------
start_tunnel --local-port 0
P0=$TUN_PORT
got=$(curl -sS --max-time 20 "http://127.0.0.1:$P0/") || fail "curl through the tunnel failed"
[ "$got" = "classlab tiny $VM" ] || fail "through the tunnel: '$got'"
pass "tunnel --local-port 0 -> localhost:$P0: '$got'"

pids=()
for i in $(seq 20); do
	curl -sS --max-time 60 -o "$T/c$i" "http://127.0.0.1:$P0/" 2>"$T/c$i.err" &
	pids+=($!)
done
nok=0
for i in $(seq 20); do
	wait "${pids[$((i - 1))]}" && [ "$(cat "$T/c$i")" = "classlab tiny $VM" ] && nok=$((nok + 1))
done
[ "$nok" = 20 ] || { cat "$T"/c*.err >&2; fail "only $nok of 20 concurrent requests came back right"; }
pass "20 concurrent requests through the tunnel"

# (the lab's customisation, run as root on the template, opened /srv/www to the student)
[ "$(ssh_cfg "$VM" 'stat -c %a /srv/www')" = 1777 ] || fail "the template's customisation (chmod 1777 /srv/www) did not reach the clone"
ssh_cfg "$VM" 'dd if=/dev/urandom of=/srv/www/big bs=1M count=16 2>/dev/null && sha256sum /srv/www/big' >"$T/gsum" ||
	fail "could not write a 16 MiB file in the guest's /srv/www"
GSUM=$(cut -d' ' -f1 "$T/gsum")
t0=$(date +%s.%N)
curl -sS --max-time 120 -o "$T/big" "http://127.0.0.1:$P0/big" || fail "16 MiB download through the tunnel failed"
DL_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$(stat -c %s "$T/big")" = $((16 << 20)) ] || fail "downloaded $(stat -c %s "$T/big") bytes, want 16 MiB"
[ "$(sha256sum <"$T/big" | cut -d' ' -f1)" = "$GSUM" ] || fail "SHA-256 of the download differs from the guest's"
ssh_cfg "$VM" 'rm -f /srv/www/big'
pass "16 MiB through the tunnel in $DL_S s, same SHA-256"

stop_tunnel
curl -s --max-time 5 "http://127.0.0.1:$P0/" >/dev/null 2>&1 && fail "port $P0 still answers after SIGINT"
pass "SIGINT stops the tunnel with exit 0"

# A busy local port: the tunnel takes the next free one.
HOLD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
print("ready", flush=True); time.sleep(600)' "$HOLD_PORT" >"$T/hold.out" &
HOLD_PID=$!
for _ in $(seq 50); do grep -q ready "$T/hold.out" && break; sleep 0.1; done
grep -q ready "$T/hold.out" || fail "could not occupy 127.0.0.1:$HOLD_PORT"
start_tunnel --local-port "$HOLD_PORT"
P1=$TUN_PORT
[ "$P1" != "$HOLD_PORT" ] || fail "tunnel claims the busy port $HOLD_PORT"
[ "$P1" -gt "$HOLD_PORT" ] && [ "$P1" -le $((HOLD_PORT + 100)) ] || fail "busy $HOLD_PORT -> $P1: not the next free port"
got=$(curl -sS --max-time 20 "http://127.0.0.1:$P1/") || fail "curl on the moved port $P1 failed"
[ "$got" = "classlab tiny $VM" ] || fail "through the moved tunnel: '$got'"
stop_tunnel
kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null
HOLD_PID=
pass "busy local port $HOLD_PORT -> tunnel on $P1"

# --- a changed host key is refused ----------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C "root@$VM" -f "$T/other_host_key"
OTHER_PUB=$(cat "$T/other_host_key.pub")
OTHER_FP=$(ssh-keygen -lf "$T/other_host_key.pub" | awk '{ print $2 }')
sqlite3 "$DB" "update vms set host_key_pub='$OTHER_PUB' where name='$VM'"
[ "$(sqlite3 "$DB" "select host_key_pub from vms where name='$VM'")" = "$OTHER_PUB" ] || fail "could not edit the stored host key"
timeout 60 "$CLASSLAB" tunnel "$LAB" "$S" --local-port 0 >"$T/out" 2>"$T/err"
RC=$?
[ "$RC" = 5 ] || { cat "$T/out" "$T/err" >&2; fail "tunnel with a changed host key exited $RC, want 5"; }
grep -qF "$OTHER_FP" "$T/err" || { cat "$T/err" >&2; fail "the refusal does not name the expected fingerprint $OTHER_FP"; }
grep -qF "$WANT_FP" "$T/err" || { cat "$T/err" >&2; fail "the refusal does not name the offered fingerprint $WANT_FP"; }
grep -q '^Forwarding' "$T/out" && fail "tunnel printed a Forwarding line for a wrong host key"
pass "classlab tunnel refuses the changed host key (exit 5): $(head -n1 "$T/err")"

must ssh-config "$LAB"
cp "$T/out" "$T/ssh_config"
nostrictoff "$T/ssh_config"
grep -qF "$(cut -d' ' -f1,2 <<<"$OTHER_PUB")" "$H/labs/$LAB/known_hosts" ||
	fail "the lab's known_hosts does not carry the stored (changed) host key after ssh-config"
if ssh_cfg "$VM" hostname >"$T/out" 2>"$T/err"; then
	fail "OpenSSH with the regenerated ssh-config logged in despite the changed host key"
fi
grep -Eqi 'host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No ED25519 host key is known' "$T/err" ||
	{ cat "$T/err" >&2; fail "OpenSSH failed, but not on the host key"; }
rm -rf "$EXP"
must students export "$LAB" "$S" "$EXP"
if (cd "$EXP" && ssh -F ssh_config -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR "$VM" hostname) >"$T/out" 2>"$T/err"; then
	fail "OpenSSH with a re-exported ssh_config logged in despite the changed host key"
fi
grep -Eqi 'host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED' "$T/err" ||
	{ cat "$T/err" >&2; fail "OpenSSH (exported files) failed, but not on the host key"; }
pass "OpenSSH with the regenerated ssh-config (and a re-export) refuses too"

echo "PASS: student access in $(($(date +%s) - START)) s (up $UP_S s, 16 MiB download $DL_S s)"
