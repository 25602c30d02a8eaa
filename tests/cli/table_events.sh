#!/usr/bin/env bash
# A long-running command's event under -o json: tunnel's "listening" is one JSON object
# on one line (what a script or the coming HTTP API reads), not the table's Forwarding
# text. Against a private OpenSSH server on 127.0.0.1 standing in for the VM.
. "$(dirname "$0")/lib.sh"
. "$CL_SOURCE_DIR/tests/e2e/sshd-lib.sh"
command -v ssh-keygen >/dev/null || { echo "skip: ssh-keygen is missing" >&2; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is missing" >&2; exit 77; }
sshd_start || exit $?
TPID=
trap '[ -n "$TPID" ] && kill "$TPID" 2>/dev/null; sshd_stop; rm -rf "$T"' EXIT

expect_exit 0 lab create ev --size small
expect_exit 0 students add ev pc1
attach_test_sshd ev pc1

: >"$T/t.out"
"$CLASSLAB" --db "$DB" -o json tunnel ev pc1 --local-port 0 --remote-port 9 >"$T/t.out" 2>"$T/t.err" &
TPID=$!
for _ in $(seq 1 100); do
	[ -s "$T/t.out" ] && break
	kill -0 "$TPID" 2>/dev/null || break
	sleep 0.1
done
sleep 0.2
kill -INT "$TPID" 2>/dev/null
wait "$TPID"
expect_eq "$?" 0 "tunnel -o json exit on SIGINT"
TPID=
expect_eq "$(wc -l <"$T/t.out")" 1 "one event line ($(cat "$T/t.out"); stderr: $(cat "$T/t.err"))"
python3 - "$T/t.out" <<'PY' || fail "the event line: $(cat "$T/t.out")"
import json, re, sys
ev = json.loads(open(sys.argv[1]).readline())
assert ev["event"] == "listening", ev
assert re.fullmatch(r"http://localhost:\d+", ev["url"]), ev
assert ev["url"].endswith(":%d" % ev["port"]) and ev["port"] > 0, ev
assert ev["address"] == "127.0.0.1" and ev["vm"] == "ev-pc1" and ev["remote_port"] == 9, ev
PY
pass
finish
