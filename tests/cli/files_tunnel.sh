#!/usr/bin/env bash
# tunnel --bind: a loopback address prints "localhost"; a non-loopback one needs --public,
# then prints the address really bound and warns on stderr (even with -q). Against a
# private OpenSSH server on 127.0.0.1 (tests/e2e/sshd-lib.sh) standing in for the VM.
. "$(dirname "$0")/lib.sh"
. "$CL_SOURCE_DIR/tests/e2e/sshd-lib.sh"
command -v ssh-keygen >/dev/null || { echo "skip: ssh-keygen is missing" >&2; exit 77; }
sshd_start || exit $?
TPID=
trap '[ -n "$TPID" ] && kill "$TPID" 2>/dev/null; sshd_stop; rm -rf "$T"' EXIT

expect_exit 0 lab create tl --size small
expect_exit 0 students add tl pc1
attach_test_sshd tl pc1

# run_tunnel ARGS...: starts the tunnel, waits for its Forwarding line, stops it (SIGINT).
run_tunnel() {
	: >"$T/t.out"
	"$CLASSLAB" --db "$DB" "$@" >"$T/t.out" 2>"$T/t.err" &
	TPID=$!
	for _ in $(seq 1 100); do
		grep -q '^Forwarding' "$T/t.out" && break
		kill -0 "$TPID" 2>/dev/null || break
		sleep 0.1
	done
	LINE=$(head -1 "$T/t.out")
	kill -INT "$TPID" 2>/dev/null
	wait "$TPID"
	TRC=$?
	TPID=
	TERR=$(cat "$T/t.err")
}

run_tunnel tunnel tl pc1 --local-port 0 --remote-port 9
[[ $LINE =~ ^Forwarding\ http://localhost:([0-9]+)\ -\>\ tl-pc1:9$ ]] ||
	fail "loopback tunnel printed '$LINE' (stderr: $TERR)"
expect_eq "$TRC" 0 "tunnel exit on SIGINT"
[[ $TERR != *warning* ]] || fail "a loopback tunnel warned: $TERR"
pass

run_tunnel tunnel tl pc1 --local-port 0 --remote-port 9 --bind 127.0.0.2
[[ $LINE == "Forwarding http://localhost:"* ]] || fail "127.0.0.2 printed '$LINE'"
pass

# 0.0.0.0 with --public: the line names 0.0.0.0 and its port, and a warning says so, with -q too.
run_tunnel -q tunnel tl pc1 --local-port 0 --remote-port 9 --bind 0.0.0.0 --public
if [[ $LINE =~ ^Forwarding\ http://0\.0\.0\.0:([0-9]+)\ -\>\ tl-pc1:9$ ]]; then
	port=${BASH_REMATCH[1]}
	[[ $TERR == *"classlab: tunnel: warning: listening on 0.0.0.0 port $port"* ]] ||
		fail "no warning naming 0.0.0.0 port $port: '$TERR'"
	pass
else
	fail "0.0.0.0 tunnel printed '$LINE' (stderr: $TERR)"
fi
expect_eq "$TRC" 0 "public tunnel exit on SIGINT"

# Without --public it never connects: refused at once.
expect_refused 2 "--public" tunnel tl pc1 --bind 0.0.0.0 --local-port 0

finish
