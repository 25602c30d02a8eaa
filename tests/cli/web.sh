#!/bin/bash
# The web page (issue 11) at curl level, without guests: --http's address rules, one-time
# links (reused, revoked, guessed: rate-limited), cookies, who sees what (403 for another
# student's URLs), CSRF on POSTs, CSP and the other headers, request bounds (body size,
# header count and size, slow clients), no path traversal, no token in the log, TLS and
# --behind-proxy. The real browser with real VMs is tests/e2e/web-browser.sh.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "skip: curl is not installed" >&2; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is not installed" >&2; exit 77; }

SERVE_PID=
stop_serve() {
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	SERVE_PID=
}
trap 'stop_serve; rm -rf "$T"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
LOG=$T/serve.log

# --- the address rules, refused before anything starts ---
expect_exit 0 lab create lab1 --size small
expect_refused 2 "is beyond loopback: serve it over HTTPS" serve --http 0.0.0.0:$PORT
expect_refused 2 "is beyond loopback" serve --http "[::]:$PORT"
expect_refused 2 "--tls-cert and --tls-key go together" serve --http 127.0.0.1:$PORT --tls-cert x.pem
expect_refused 2 "go with --http" serve --behind-proxy
expect_refused 2 "give ADDRESS:PORT" serve --http localhost
expect_refused 2 "not a numeric address" serve --http localhost:$PORT
expect_refused 2 "the port must be 1-65535" serve --http 127.0.0.1:0
expect_refused 2 "an origin of its own" serve --http 127.0.0.1:$PORT --jupyter-port $PORT
expect_refused 2 "go with --http" serve --jupyter-port 8889

# Two students with published VM records (what template publish leaves), and their keys.
expect_exit 0 students add lab1 alice
expect_exit 0 students add lab1 bob
hostkey=$(cut -d' ' -f1,2 "$CL_TEST_DATA/ssh/key_ed25519_256.pub")
sql "INSERT INTO vms(lab_id, student_id, name, kind, ssh_port, host_key_pub, state, created_at)
     SELECT l.id, s.id, 'lab1-' || s.name, 'student', 61000 + s.id, '$hostkey', 'running', 0
     FROM labs l JOIN students s ON s.lab_id = l.id WHERE l.name = 'lab1'"

JPORT=$(free_port)
start_serve() { # ARGS...: serve --http 127.0.0.1:$PORT ARGS, until it answers
	"$CLASSLAB" --db "$DB" serve --interval 5 --http 127.0.0.1:$PORT --jupyter-port $JPORT "$@" 2>>"$LOG" &
	SERVE_PID=$!
	for _ in $(seq 150); do
		curl -s -k -o /dev/null "${SCHEME:-http}://127.0.0.1:$PORT/" && return 0
		sleep 0.1
	done
	fail "the web page did not come up: $(tail -5 "$LOG")"
	exit 1
}
start_serve

# $T/h: headers, $T/b: body; prints the status. hget URL [curl args]
hget() { local u=$1; shift; curl -s --path-as-is -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" "$URL$u"; }
header() { grep -i "^$1:" "$T/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
link_of() { cl -o json students invite lab1 "$1"; json_get '.[0].link' | tr -d '"' | sed "s#http://127.0.0.1:8080#$URL#"; }
# join LINK JAR: takes the link into a cookie jar; prints the status
join() { curl -s -D "$T/h" -o "$T/b" -c "$2" -w '%{http_code}' "$1"; }
csrf_of() { sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$T/b" | head -1; }

# --- no session: only / and the assets ---
expect_eq "$(hget /)" 200 "/ without a session"
grep -q "one-time link" "$T/b" || fail "/ does not say how to get in"
expect_eq "$(header Content-Security-Policy)" "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" "the CSP"
expect_eq "$(header X-Frame-Options)" DENY "X-Frame-Options"
expect_eq "$(header X-Content-Type-Options)" nosniff "X-Content-Type-Options"
expect_eq "$(header Cache-Control)" no-store "Cache-Control"
grep -q '<script>\|style=\|onclick' "$T/b" && fail "inline script or style in a page (the CSP forbids them)"
expect_eq "$(hget /static/style.css)" 200 "the stylesheet"
expect_eq "$(header Content-Type)" "text/css; charset=utf-8" "the stylesheet's type"
expect_eq "$(hget /static/app.js)" 200 "the script"
for u in /s/lab1/alice /s/lab1/alice/bundle.zip /admin /admin/chart/lab1.svg; do
	expect_eq "$(hget $u)" 403 "$u without a session"
done
expect_eq "$(hget /s/lab1/alice/start -X POST)" 403 "a POST without a session"

# --- links: one use each; cookies HttpOnly, SameSite=Strict, no Secure over plain HTTP ---
LA=$(link_of alice)
LB=$(link_of bob)
[[ $LA == "$URL/join/"* ]] && [ ${#LA} -eq $((${#URL} + 6 + 64)) ] || fail "alice's link: $LA"
expect_eq "$(sql "SELECT count(*) FROM web_invites WHERE hex(token_hash) LIKE '%' || upper('${LA##*/}') || '%'")" 0 \
	"the token is not in the store (only its hash)"
expect_eq "$(join "$LA" "$T/alice.jar")" 303 "alice's link"
expect_eq "$(header Location)" / "redirect after the link"
cookie=$(header Set-Cookie)
[[ $cookie == classlab_session=*"; HttpOnly; SameSite=Strict" ]] || fail "the cookie: $cookie"
[[ $cookie == *Secure* ]] && fail "Secure over plain HTTP: $cookie"
expect_eq "$(join "$LA" "$T/again.jar")" 403 "alice's link a second time"
grep -q "already used" "$T/b" || fail "a reused link does not say so"
expect_eq "$(join "$LB" "$T/bob.jar")" 303 "bob's link"

# alice's page: her VM, the SSH line, the tunnel, X2Go, the bundle link
expect_eq "$(hget / -b "$T/alice.jar")" 303 "/ with alice's session"
expect_eq "$(header Location)" /s/lab1/alice "alice is sent to her page"
expect_eq "$(hget /s/lab1/alice -b "$T/alice.jar")" 200 "alice's page"
port=$(sql "SELECT ssh_port FROM vms WHERE name = 'lab1-alice'")
grep -q "ssh -p $port student@" "$T/b" || fail "alice's page has no SSH line"
grep -q -- "-L 8888:localhost:8888" "$T/b" || fail "alice's page has no tunnel line"
grep -q "sshport=$port" "$T/b" || fail "alice's page has no X2Go settings"
grep -q 'id="quota-hint"' "$T/b" || fail "outside class, the page does not say the quota left"
ACSRF=$(csrf_of)
[ ${#ACSRF} -eq 32 ] || fail "no CSRF token on alice's page"
expect_eq "$(hget /s/lab1/alice/bundle.zip -b "$T/alice.jar")" 200 "alice's bundle"
expect_eq "$(header Content-Type)" application/zip "the bundle's type"
python3 - "$T/b" <<'EOF' || fail "the bundle's files"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = sorted(z.namelist())
want = sorted("lab1-alice/" + n for n in ["id_ed25519", "known_hosts", "ssh_config", "x2go-session", "README.txt"])
assert names == want, names
assert b"PRIVATE KEY" in z.read("lab1-alice/id_ed25519")
assert (z.getinfo("lab1-alice/id_ed25519").external_attr >> 16) & 0o777 == 0o600
assert b"StrictHostKeyChecking yes" in z.read("lab1-alice/ssh_config")
EOF

# --- bob's session: 403 on every URL of alice's, and on the instructors' page ---
expect_eq "$(hget /s/lab1/bob -b "$T/bob.jar")" 200 "bob's own page"
BCSRF=$(csrf_of)
for u in /s/lab1/alice /s/lab1/alice/bundle.zip /admin /admin/chart/lab1.svg; do
	expect_eq "$(hget $u -b "$T/bob.jar")" 403 "bob on $u"
done
for a in start stop; do
	expect_eq "$(hget /s/lab1/alice/$a -b "$T/bob.jar" -d "csrf=$BCSRF")" 403 "bob's POST to alice's $a"
done
expect_eq "$(hget /admin/vm -b "$T/bob.jar" -d "csrf=$BCSRF&lab=lab1&all=1&action=stop")" 403 \
	"bob's POST to the instructors' form"

# --- CSRF: a POST without the session's token changes nothing ---
before=$(grep -c "web: POST" "$LOG")
expect_eq "$(hget /s/lab1/alice/stop -b "$T/alice.jar" -X POST)" 403 "a POST without the CSRF token"
grep -q "CSRF" "$T/b" || fail "the refusal does not name the CSRF token"
expect_eq "$(hget /s/lab1/alice/stop -b "$T/alice.jar" -d "csrf=$BCSRF")" 403 "a POST with bob's CSRF token"
expect_eq "$(hget /s/lab1/alice/stop -b "$T/alice.jar" -d "csrf=")" 403 "a POST with an empty CSRF token"
grep -q "stopping\|stopped" <(sed -n "$((before + 1)),\$p" "$LOG" | grep -v "web:") &&
	fail "a refused POST stopped a VM"

# --- no path traversal, no files: a fixed table ---
for u in /static/../../etc/passwd /static/%2e%2e/%2e%2e/etc/passwd /s/lab1/alice/../bob \
	/static/ /static /etc/passwd //admin /s/lab1/alice/bundle.zip/x; do
	st=$(hget "$u" -b "$T/alice.jar")
	[ "$st" = 404 ] || [ "$st" = 403 ] || fail "$u: $st"
	grep -q "root:" "$T/b" && fail "$u served a file"
done
expect_eq "$(hget / -X PUT)" 405 "PUT"

# --- bounds: body, header count, header size, slow clients ---
head -c 20000 /dev/zero | tr '\0' 'x' >"$T/big"
expect_eq "$(hget /s/lab1/alice/stop -b "$T/alice.jar" --data-binary @"$T/big")" 413 "a 20 KB form"
hdrs=()
for i in $(seq 80); do hdrs+=(-H "X-Junk-$i: $i"); done
expect_eq "$(hget / "${hdrs[@]}")" 431 "80 header fields"
long=$(head -c 40000 /dev/zero | tr '\0' 'a')
st=$(hget / -H "X-Long: $long")
[ "$st" = 431 ] || [ "$st" = 413 ] || fail "a 40 KB header: $st"
# A client that sends half a request and waits is dropped (15 s), and others are served meanwhile.
python3 - "$PORT" <<'EOF' || fail "a slow client was not dropped"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
t = time.time()
s.settimeout(30)
try:
    data = s.recv(100)
except socket.timeout:
    sys.exit(1)
sys.exit(0 if data == b"" and 10 < time.time() - t < 25 else 1)
EOF
expect_eq "$(hget /)" 200 "served after the slow client"

# --- guessing links: refused, then rate-limited (429 even for a good link) ---
# The reused link above was the first failure from this address; nine more reach the limit.
for i in $(seq 9); do
	expect_eq "$(hget /join/$(printf '%064x' $i))" 403 "guess $i"
done
expect_eq "$(hget /join/not-even-hex)" 429 "the 11th guess"
LC=$(cl -o json students invite lab1 bob; json_get '.[0].link' | tr -d '"' | sed "s#http://127.0.0.1:8080#$URL#")
expect_eq "$(join "$LC" "$T/bob2.jar")" 429 "a good link after the limit"

# --- Open Jupyter's origin: only a student's own session; no VM answers here (502) ---
jget() { curl -s -o "$T/b" -w '%{http_code}' "$@"; }
expect_eq "$(jget http://127.0.0.1:$JPORT/)" 403 "the Jupyter origin without a session"
expect_eq "$(jget -b "$T/alice.jar" http://127.0.0.1:$JPORT/tree?x=1)" 502 "alice's Jupyter with no VM running"
grep -q "Cannot reach your VM" "$T/b" || fail "the 502 does not say why"

# --- the instructor ---
expect_exit 0 -o json admin invite
LADM=$(json_get .link | tr -d '"' | sed "s#http://127.0.0.1:8080#$URL#")
# from another address (the limit is per address; 127.0.0.2 is loopback too)
expect_eq "$(curl -s --interface 127.0.0.2 -c "$T/admin.jar" -o /dev/null -w '%{http_code}' "${LADM/127.0.0.1/127.0.0.1}")" 303 \
	"the admin's link from another address"
expect_eq "$(hget /admin -b "$T/admin.jar")" 200 "the instructors' page"
for s in alice bob; do grep -q "<td>$s</td>" "$T/b" || fail "the instructors' page lacks $s"; done
grep -q 'src="/admin/chart/lab1.svg"' "$T/b" || fail "the instructors' page has no chart"
expect_eq "$(hget /admin/chart/lab1.svg -b "$T/admin.jar")" 200 "the chart"
expect_eq "$(header Content-Type)" image/svg+xml "the chart's type"
grep -q "<svg" "$T/b" || fail "the chart is not SVG"
expect_eq "$(hget /admin/chart/nolab.svg -b "$T/admin.jar")" 404 "the chart of no lab"
expect_eq "$(hget /s/lab1/alice -b "$T/admin.jar")" 200 "an instructor sees a student's page"
expect_eq "$(jget -b "$T/admin.jar" http://127.0.0.1:$JPORT/)" 403 "an instructor's session on the Jupyter origin"

# --- revoking ends the session; the log holds no token ---
expect_exit 0 students invite lab1 alice --revoke
expect_eq "$(hget /s/lab1/alice -b "$T/alice.jar")" 403 "alice after revocation"
for tok in "${LA##*/}" "${LB##*/}" "${LADM##*/}" "$(grep classlab_session "$T/alice.jar" | awk '{print $7}')"; do
	grep -q "$tok" "$LOG" && fail "a token is in the service's log"
done
expect_exit 0 students export lab1 bob "$T/exp" --invite --url "$URL"
grep -q "$URL/join/[0-9a-f]\{64\}" "$T/exp/README.txt" || fail "students export --invite: no link in README.txt"
expect_refused 2 "--url goes with --invite" students export lab1 bob "$T/exp2" --url "$URL"
expect_refused 2 "is not an http:// or https:// address" students invite lab1 --url "javascript:x"

# --- the hostile-input corpus's HTTP cases, sent raw ---
for req in "$CL_TEST_DATA"/hostile/http/*.http; do
	case=$(basename "$req" .http)
	got=$(python3 "$CL_SOURCE_DIR/tests/cli/web_raw.py" "$PORT" "$req")
	want=$(cat "${req%.http}.expect")
	[[ "|$want|" == *"|$got|"* ]] || fail "hostile HTTP $case: got '$got', want $want"
	pass
done
expect_eq "$(hget /)" 200 "served after the hostile requests"
stop_serve

# --- behind a proxy: its X-Forwarded-Proto makes the cookie Secure ---
start_serve --behind-proxy
L=$(link_of alice)
st=$(curl -s -D "$T/h" -o /dev/null -w '%{http_code}' -H "X-Forwarded-Proto: https" -H "X-Forwarded-For: 203.0.113.9" "$L")
expect_eq "$st" 303 "a link through the proxy"
[[ $(header Set-Cookie) == *"; Secure" ]] || fail "no Secure cookie behind an HTTPS proxy: $(header Set-Cookie)"
stop_serve

# --- our own TLS: Secure cookie and HSTS ---
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
		-subj /CN=127.0.0.1 2>/dev/null
	SCHEME=https start_serve --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
	L=$(link_of alice | sed 's#^http:#https:#')
	expect_eq "$(curl -s -k -D "$T/h" -o /dev/null -w '%{http_code}' "$L")" 303 "a link over HTTPS"
	[[ $(header Set-Cookie) == *"; Secure" ]] || fail "no Secure cookie over HTTPS"
	[ -n "$(header Strict-Transport-Security)" ] || fail "no HSTS over HTTPS"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")" 000 "plain HTTP on the HTTPS port"
	stop_serve
fi
grep -q "Sanitizer\|runtime error:" "$LOG" && fail "sanitizer report in the service's log: $(grep -m3 'Sanitizer\|runtime error:' "$LOG")"
finish
