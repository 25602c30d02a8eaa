#!/bin/bash
# classlab serve without guests: one per data directory, its socket and pidfile, commands
# sent through it (same bytes as without it, relative paths the client's), hostile
# requests on its socket, signals. The class-running part is tests/e2e/serve.sh.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "skip: curl is not installed" >&2; exit 77; }

SOCK=$XDG_DATA_HOME/classlab/serve.sock
SERVE_PID=
stop_serve() { [ -n "$SERVE_PID" ] && kill -9 "$SERVE_PID" 2>/dev/null; }
trap 'stop_serve; rm -rf "$T"' EXIT

expect_exit 0 lab create lab1 --size small
expect_refused 2 "--interval" serve --interval 0
expect_refused 2 "--interval" serve --interval 31
expect_refused 2 "--interval" serve --interval soon
mkdir -p "$T/sub"
cp "$CL_TEST_DATA/hostile/labfiles/bad-lab-name.json" "$T/sub/bad.json"

"$CLASSLAB" --db "$DB" serve --interval 1 --pidfile "$T/serve.pid" 2>"$T/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { fail "no socket: $(cat "$T/serve.log")"; exit 1; }
pass
expect_eq "$(stat -c %a "$SOCK")" 600 "the socket's mode"
expect_eq "$(cat "$T/serve.pid")" "$SERVE_PID" "--pidfile"

expect_refused 4 "already running for this data directory (pid $SERVE_PID)" serve

# Through the service: the same bytes as without it (compared once it stops, below).
cl vm list lab1
expect_eq "$RC" 0 "vm list through the service"
cp "$OUT" "$T/served.out"
cp "$ERR" "$T/served.err"
cl -o json vm list lab1
cp "$OUT" "$T/served.json"
(cd "$T/sub" && "$CLASSLAB" --db "$DB" up bad.json >"$T/served-up.out" 2>"$T/served-up.err")
echo $? >"$T/served-up.rc"
grep -q "ran 'vm list' for a client" "$T/serve.log" || fail "vm list did not go through the service"
grep -q "ran 'up bad.json' for a client" "$T/serve.log" || fail "up did not go through the service"
pass

# Hostile requests on the socket: each answered, the service unharmed.
post() { curl -s --unix-socket "$SOCK" -o "$T/resp.json" -w '%{http_code}' "$@"; resp_decode; }
# $T/resp: the reply's exit status, then its stderr bytes (base64 in the JSON)
resp_decode() {
	python3 -c 'import base64, json, sys
r = json.load(open(sys.argv[1]))
sys.stdout.write("exit %d\n" % r["exit"])
sys.stdout.write(base64.b64decode(r.get("stderr_b64", "")).decode("utf-8", "replace"))' \
		"$T/resp.json" >"$T/resp" 2>/dev/null || cp "$T/resp.json" "$T/resp"
}
expect_eq "$(post -X POST http://localhost/v1/run)" 200 "POST without a body"
grep -q '^exit 2$' "$T/resp" && grep -q "malformed request" "$T/resp" || fail "empty body: $(cat "$T/resp")"
expect_eq "$(post -X GET http://localhost/v1/run)" 405 "GET"
expect_eq "$(post -d '{}' http://localhost/nope)" 404 "an unknown path"
expect_eq "$(post -d '{"argv": "vm list"' http://localhost/v1/run)" 200 "broken JSON"
grep -q "malformed request" "$T/resp" || fail "broken JSON: $(cat "$T/resp")"
head -c $((2 << 20)) /dev/zero | tr '\0' 'x' >"$T/big"
expect_eq "$(post --data-binary @"$T/big" http://localhost/v1/run)" 413 "a 2 MiB body"
DBREAL=$(realpath "$DB")
req() { printf '{"argv": %s, "db": "%s", "cwd": "%s"}' "$1" "$DBREAL" "$T"; }
post -d "$(req '["serve"]')" http://localhost/v1/run >/dev/null
grep -q "is not run by the service" "$T/resp" || fail "serve through the service: $(cat "$T/resp")"
post -d "$(req '["tunnel", "lab1", "alice"]')" http://localhost/v1/run >/dev/null
grep -q "is not run by the service" "$T/resp" || fail "tunnel through the service: $(cat "$T/resp")"
post -d "$(req '["lab", "delete", "lab1", "--yes"]')" http://localhost/v1/run >/dev/null
grep -q "is not run by the service" "$T/resp" || fail "lab delete through the service: $(cat "$T/resp")"
post -d "$(req "[$(printf '"x",%.0s' $(seq 300))\"x\"]")" http://localhost/v1/run >/dev/null
grep -q "malformed request" "$T/resp" || fail "301 words: $(cat "$T/resp")"
post -d '{"argv": ["vm", "list", "lab1"], "db": "/elsewhere.db", "cwd": "/"}' http://localhost/v1/run >/dev/null
grep -q '^exit 5$' "$T/resp" && grep -q "serves $DBREAL" "$T/resp" || fail "another database: $(cat "$T/resp")"
post -d "{\"argv\": [\"vm\", \"list\", \"lab1\"], \"db\": \"$DBREAL\"}" http://localhost/v1/run >/dev/null
grep -q "no working directory" "$T/resp" || fail "no cwd: $(cat "$T/resp")"
post -d "$(req '["vm", "list", "lab1", 7]')" http://localhost/v1/run >/dev/null
grep -q "malformed request" "$T/resp" || fail "a number among the words: $(cat "$T/resp")"
expect_eq "$(post -X POST 'http://localhost/%ff%fe')" 404 "a path that is not UTF-8"
grep -q "no such endpoint" "$T/resp" || fail "a path that is not UTF-8: $(cat "$T/resp")"
# A word that is not UTF-8 is refused by the client, not dropped on the way.
cl vm list $'lab\xff'
expect_eq "$RC" 2 "a word that is not UTF-8"
expect_stderr_contains "is not UTF-8 text"
kill -0 "$SERVE_PID" || fail "the service died of a hostile request"
cl vm list lab1
expect_eq "$RC" 0 "vm list after the hostile requests"

# SIGHUP passes at once; SIGTERM stops cleanly: socket and --pidfile gone.
kill -HUP "$SERVE_PID"
sleep 1
grep -q "SIGHUP" "$T/serve.log" || fail "no SIGHUP line in the log"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
expect_eq "$?" 0 "serve's exit on SIGTERM"
SERVE_PID=
[ ! -e "$SOCK" ] || fail "the socket is left"
[ ! -e "$T/serve.pid" ] || fail "the --pidfile is left"
pass

# Without the service: the same bytes.
cl vm list lab1
cmp -s "$OUT" "$T/served.out" && cmp -s "$ERR" "$T/served.err" || fail "vm list differs through the service"
cl -o json vm list lab1
cmp -s "$OUT" "$T/served.json" || fail "vm list -o json differs through the service"
(cd "$T/sub" && "$CLASSLAB" --db "$DB" up bad.json >"$T/direct-up.out" 2>"$T/direct-up.err")
expect_eq "$?" "$(cat "$T/served-up.rc")" "up bad.json's exit, with and without the service"
cmp -s "$T/direct-up.err" "$T/served-up.err" || fail "up bad.json's message differs: $(cat "$T/served-up.err")"
grep -q "lab name\|name" "$T/direct-up.err" || fail "up bad.json did not read the file: $(cat "$T/direct-up.err")"
pass

echo "serve.sh: $FAILS failed, $CHECKS passed"
[ "$FAILS" = 0 ]
