#!/usr/bin/env bash
# Attached machines (seeds/004) and `classlab jupyter`, against a real OpenSSH server on
# 127.0.0.1 standing in for a lab PC: attach pins the host key by fingerprint, connect /
# ssh-config / tunnel work with stock OpenSSH, a wrong fingerprint is refused, and
# `classlab jupyter` finds or starts Debian's jupyter-notebook there and tunnels to it.
set -u
CLASSLAB=${CLASSLAB:?path to the classlab binary}
. "$(dirname "$0")/sshd-lib.sh"
export CLASSLAB_HOME=$(mktemp -d /tmp/cla.XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  pkill -f "jupyter-notebook.*--port 8888" 2>/dev/null
  sshd_stop
  rm -rf "$CLASSLAB_HOME"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
sshd_start || exit $?

C=("$CLASSLAB" --db "$CLASSLAB_HOME/c.db")
"${C[@]}" lab create att --size small >/dev/null || fail "lab create"
"${C[@]}" students add att pc1 >/dev/null || fail "students add"
FP=$(ssh-keygen -lf <(echo "$SSHD_HOST_PUB") | awk '{print $2}')

# A wrong fingerprint is refused (exit 5) and nothing is recorded.
WRONG=$(ssh-keygen -q -t ed25519 -N '' -f "$CLASSLAB_HOME/other" && ssh-keygen -lf "$CLASSLAB_HOME/other.pub" | awk '{print $2}')
"${C[@]}" vm attach att pc1 --address 127.0.0.1 --ssh-port "$SSHD_PORT" --username "$SSHD_USER" \
  --private-key "$SSHD_USER_KEY" --host-key-fingerprint "$WRONG" 2>"$CLASSLAB_HOME/err"
[ $? -eq 5 ] || fail "wrong fingerprint: want exit 5"
grep -q "$FP" "$CLASSLAB_HOME/err" || fail "message does not name the offered key: $(cat "$CLASSLAB_HOME/err")"
[ "$(sqlite3 "$CLASSLAB_HOME/c.db" 'select count(*) from vms')" -eq 0 ] || fail "recorded after refusal"
# Neither a fingerprint nor --trust-first: a usage error.
"${C[@]}" vm attach att pc1 --address 127.0.0.1 --ssh-port "$SSHD_PORT" --username "$SSHD_USER" \
  --private-key "$SSHD_USER_KEY" 2>/dev/null
[ $? -eq 2 ] || fail "attach without a fingerprint: want exit 2"

"${C[@]}" vm attach att pc1 --address 127.0.0.1 --ssh-port "$SSHD_PORT" --username "$SSHD_USER" \
  --private-key "$SSHD_USER_KEY" --host-key-fingerprint "$FP" >/dev/null || fail "attach"
line=$("${C[@]}" connect att pc1) || fail "connect"
[ "$line" = "ssh -p $SSHD_PORT $SSHD_USER@127.0.0.1" ] || fail "connect printed '$line'"
"${C[@]}" ssh-config att >"$CLASSLAB_HOME/cfg" || fail "ssh-config"
grep -q "StrictHostKeyChecking yes" "$CLASSLAB_HOME/cfg" || fail "ssh-config is not strict"
[ "$(ssh -F "$CLASSLAB_HOME/cfg" -o BatchMode=yes att-pc1 echo hi)" = hi ] || fail "ssh -F ssh-config"
key=$(sqlite3 "$CLASSLAB_HOME/c.db" "select auth_secret from vms where name='att-pc1'")
[ "$(stat -c %a "${key#key:}")" = 600 ] || fail "copied key is not 0600"
# --trust-first says what it pinned.
"${C[@]}" vm attach att pc1 --address 127.0.0.1 --ssh-port "$SSHD_PORT" --username "$SSHD_USER" \
  --private-key "$SSHD_USER_KEY" --trust-first 2>"$CLASSLAB_HOME/err" >/dev/null || fail "trust-first"
grep -q "pinned host key $FP" "$CLASSLAB_HOME/err" || fail "trust-first message: $(cat "$CLASSLAB_HOME/err")"
echo "ok: attach, connect, ssh-config with stock OpenSSH"

if ! command -v jupyter >/dev/null; then
  echo "skip: jupyter-notebook is not installed; attach checks passed" >&2
  exit 0
fi
pkill -f "jupyter-notebook.*--port 8888" 2>/dev/null
"${C[@]}" jupyter att pc1 --local-port 0 >"$CLASSLAB_HOME/jup.out" 2>"$CLASSLAB_HOME/jup.err" &
pids+=($!)
for _ in $(seq 1 120); do
  url=$(grep -m1 '^http://localhost:' "$CLASSLAB_HOME/jup.out")
  [ -n "$url" ] && break
  sleep 0.5
done
[ -n "$url" ] || fail "jupyter printed no URL: $(cat "$CLASSLAB_HOME/jup.err")"
case $url in *'?token='?*) ;; *) fail "URL has no token: $url" ;; esac
code=$(curl -s -o "$CLASSLAB_HOME/page" -w '%{http_code}' -L "$url") || fail "curl $url"
[ "$code" = 200 ] || fail "page through the tunnel answered $code"
grep -qi jupyter "$CLASSLAB_HOME/page" || fail "the page is not Jupyter's"
kill -INT "${pids[0]}"
wait "${pids[0]}"
[ $? -eq 0 ] || fail "jupyter tunnel did not exit 0 on SIGINT"
echo "ok: classlab jupyter started the notebook and its page loads through the tunnel"
