#!/bin/bash
# Open Jupyter's WebSocket half (issue 11), no guest: a student's "VM" is this host's own
# OpenSSH server on loopback (tests/e2e/sshd-lib.sh, `classlab vm attach`), where a real
# Debian jupyter-notebook runs on 127.0.0.1:8888. Through `classlab serve --http ...
# --jupyter-port P2`, with the student's session from their invite link: a kernel made
# with Jupyter's REST API (POST /api/kernels), its channels WebSocket opened, an
# execute_request for 1+41 answered by an execute_result of 42 (tests/cli/ws_client.py
# writes the frames), the close handshake relayed. Refused: no session (403), the
# instructor's session (403), another origin (403), a student without a VM (502: their
# own VM, never alice's); at most 8 sockets per student (429), the count freed on close;
# serve's SIGTERM closes live sockets and exits 0; the cell again over the service's own
# HTTPS, and an idle socket closed (3 s under CLASSLAB_TEST_HOOKS). Exit: 0 pass, 1 fail, 77 skipped.
. "$(dirname "$0")/lib.sh"
for c in curl python3 jupyter ssh-keygen; do
	command -v $c >/dev/null || { echo "skip: $c is not installed" >&2; exit 77; }
done
[ -x /usr/sbin/sshd ] || { echo "skip: openssh-server is not installed" >&2; exit 77; }
JPY=$CL_SOURCE_DIR/tests/cli/ws_client.py
SERVE_PID= JUP_PID= HOLD_PID=
# shellcheck disable=SC2317 # called through trap
cleanup() {
	[ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	[ -n "$JUP_PID" ] && kill "$JUP_PID" 2>/dev/null && wait "$JUP_PID" 2>/dev/null
	declare -F sshd_stop >/dev/null && sshd_stop
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Jupyter on 127.0.0.1:8888 (the port the proxy goes to on a VM), in a runtime dir of
# its own that the sshd's sessions are given, so the service finds this server only.
if python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8888), 1)' 2>/dev/null; then
	echo "skip: 127.0.0.1:8888 is taken (another Jupyter?)" >&2
	exit 77
fi
mkdir -p "$T/rt" "$T/nb" "$HOME"
JTOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
JUPYTER_RUNTIME_DIR=$T/rt jupyter notebook --no-browser --ip 127.0.0.1 --port 8888 \
	--port-retries 0 --notebook-dir "$T/nb" --NotebookApp.token="$JTOKEN" \
	$([ "$(id -u)" = 0 ] && echo --allow-root) \
	>"$T/jupyter.log" 2>&1 </dev/null &
JUP_PID=$!
for _ in $(seq 150); do
	curl -s -o /dev/null "http://127.0.0.1:8888/api/status?token=$JTOKEN" && break
	kill -0 "$JUP_PID" 2>/dev/null || break
	sleep 0.2
done
curl -s -f -o /dev/null "http://127.0.0.1:8888/api/status?token=$JTOKEN" || {
	echo "skip: jupyter notebook did not come up on 8888: $(tail -3 "$T/jupyter.log")" >&2
	exit 77
}
. "$CL_SOURCE_DIR/tests/e2e/sshd-lib.sh"
SSHD_EXTRA_CONFIG="SetEnv JUPYTER_RUNTIME_DIR=$T/rt"
sshd_start || exit $?
pass

# alice's VM: the loopback sshd, attached with its pinned key; bob has none.
expect_exit 0 lab create att --size small
expect_exit 0 students add att alice
expect_exit 0 students add att bob
FP=$(ssh-keygen -lf <(echo "$SSHD_HOST_PUB") | awk '{print $2}')
expect_exit 0 vm attach att alice --address 127.0.0.1 --ssh-port "$SSHD_PORT" \
	--username "$SSHD_USER" --private-key "$SSHD_USER_KEY" --host-key-fingerprint "$FP"

PORT=$(free_port)
JPORT=$(free_port)
URL=http://127.0.0.1:$PORT
J=http://127.0.0.1:$JPORT
LOG=$T/serve.log
"$CLASSLAB" --db "$DB" serve --interval 5 --http 127.0.0.1:$PORT --jupyter-port $JPORT 2>>"$LOG" &
SERVE_PID=$!
for _ in $(seq 150); do curl -s -o /dev/null "$URL/" && break; sleep 0.1; done
curl -s -o /dev/null "$URL/" || { fail "the web page did not come up: $(tail -5 "$LOG")"; exit 1; }

# Sessions from the invite links: the cookie's value, for the WebSocket client.
session_of() { # ARGS of `classlab ... invite`: prints the session cookie
	cl -o json "$@" --url "$URL"
	local link
	link=$(python3 -c 'import json,sys; v=json.load(sys.stdin); print((v[0] if isinstance(v, list) else v)["link"])' <"$OUT")
	curl -s -o /dev/null -c "$T/jar.$$" "$link"
	awk '$6 == "classlab_session" {print $7}' "$T/jar.$$"
	rm -f "$T/jar.$$"
}
SA=$(session_of students invite att alice)
SB=$(session_of students invite att bob)
SI=$(session_of admin invite)
[ -n "$SA" ] && [ -n "$SB" ] && [ -n "$SI" ] || { fail "no session cookie from a link"; exit 1; }

# A kernel through the HTTP proxy (no token from us: the proxy adds Jupyter's).
code=$(curl -s -o "$T/k" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	-b "classlab_session=$SA" -d '{}' "$J/api/kernels")
expect_eq "$code" 201 "POST /api/kernels through the proxy"
KID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/k" 2>/dev/null)
[ -n "$KID" ] || { fail "no kernel id: $(head -c 300 "$T/k")"; exit 1; }
CH=/api/kernels/$KID/channels

# The cell: execute_request 1+41 -> execute_result 42, and the close handshake relayed.
out=$(timeout 90 python3 "$JPY" execute "$JPORT" "$CH" "$SA" '1+41' 2>&1)
expect_eq "$(echo "$out" | head -1)" 42 "1+41 through the WebSocket proxy"
expect_eq "$(echo "$out" | sed -n 2p)" "close answered" "the close handshake through the proxy"
# Again, quiet for longer than the page's 15 s timeout for slow HTTP clients (an
# upgraded socket is not timed out by libmicrohttpd), with a fresh SSH session.
out=$(timeout 90 python3 "$JPY" execute "$JPORT" "$CH" "$SA" '6*7' 17 2>&1)
expect_eq "$(echo "$out" | head -1)" 42 "a second WebSocket, quiet for 17 s first"

# Who may not: no session, the instructor, another origin; bob reaches only his own VM.
expect_eq "$(python3 "$JPY" status "$JPORT" "$CH" '')" 403 "no session"
expect_eq "$(python3 "$JPY" status "$JPORT" "$CH" 'not-a-session')" 403 "a made-up session"
expect_eq "$(python3 "$JPY" status "$JPORT" "$CH" "$SI")" 403 "the instructor's session"
expect_eq "$(python3 "$JPY" status "$JPORT" "$CH" "$SA" http://evil.example)" 403 "another origin"
expect_eq "$(python3 "$JPY" status "$JPORT" "$CH" "$SB")" 502 "bob (no VM): never alice's kernel"

# At most 8 at once per student; SIGTERM closes the live ones and serve exits 0.
mkfifo "$T/hold.in"
python3 "$JPY" hold "$JPORT" "$CH" "$SA" 8 <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLD_PID=$!
exec 7>"$T/hold.in"
for _ in $(seq 300); do grep -q '^open' "$T/hold.out" && break; sleep 0.1; done
expect_eq "$(grep -c '^101$' "$T/hold.out")" 8 "8 sockets at once"
expect_eq "$(python3 "$JPY" status "$JPORT" "$CH" "$SA")" 429 "the 9th socket"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
rc=$?
SERVE_PID=
expect_eq "$rc" 0 "serve's exit on SIGTERM with live WebSockets"
exec 7>&-
wait "$HOLD_PID"
HOLD_PID=
expect_eq "$(grep -c '^closed$' "$T/hold.out")" 8 "every socket closed by the stop"
# The service's own HTTPS: libmicrohttpd relays the upgraded socket through TLS.
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
		-subj /CN=127.0.0.1 2>/dev/null
	CLASSLAB_TEST_WS_IDLE_MS=3000 "$CLASSLAB" --db "$DB" serve --interval 5 \
		--http 127.0.0.1:$PORT --jupyter-port $JPORT --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" 2>>"$LOG" &
	SERVE_PID=$!
	for _ in $(seq 150); do curl -s -k -o /dev/null "https://127.0.0.1:$PORT/" && break; sleep 0.1; done
	out=$(WS_TLS=$T/cert.pem timeout 90 python3 "$JPY" execute "$JPORT" "$CH" "$SA" '40+2' 2>&1)
	expect_eq "$(echo "$out" | head -1)" 42 "1+41 through the WebSocket proxy over HTTPS"
	expect_eq "$(WS_TLS=$T/cert.pem python3 "$JPY" status "$JPORT" "$CH" "$SI")" 403 \
		"the instructor's session over HTTPS"
	# Idle (3 s here, a test hook; 10 min otherwise): closed by the service.
	if grep -q -a CLASSLAB_TEST_WS_IDLE_MS "$CLASSLAB" "$(dirname "$CLASSLAB")/classlab-vm" 2>/dev/null; then
		t0=$(date +%s)
		echo | WS_TLS=$T/cert.pem python3 "$JPY" hold "$JPORT" "$CH" "$SA" 1 >"$T/idle.out" 2>&1
		expect_eq "$(tail -1 "$T/idle.out")" closed "an idle socket closed by the service"
		t=$(($(date +%s) - t0))
		[ "$t" -ge 3 ] && [ "$t" -le 9 ] || fail "the idle socket closed after ${t} s, not 3-9"
	fi
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
	rc=$?
	SERVE_PID=
	expect_eq "$rc" 0 "serve's exit on SIGTERM (HTTPS)"
fi
grep -q "Sanitizer\|runtime error:" "$LOG" && fail "a sanitizer report in the service's log: $(grep -m3 -A5 Sanitizer "$LOG")"
grep -q "$JTOKEN" "$LOG" && fail "Jupyter's token is in the service's log"
grep -q "$SA" "$LOG" && fail "a session is in the service's log"
finish
