#!/bin/bash
# End-to-end: the web page (issue 11) in Debian's headless Chromium over real tiny guests
# (qemu:///embed, TCG): `classlab serve --http` on loopback; tests/e2e/web_browser.py
# drives the browser (student: link, SSH line, start, bundle download and an OpenSSH
# login with it, Open Jupyter (HTTP, to a web server on the VM's 127.0.0.1:8888), stop; reused link; POST without CSRF; another student's 403s;
# instructor: every student and the chart) and takes the README's screenshots
# (doc/web-student.png, doc/web-instructor.png; WEB_SHOTS=DIR puts them elsewhere).
# Exit: 0 pass, 1 fail, 77 skipped (reason on stderr).
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
need_guest qemu-system-x86_64 qemu-img sqlite3 ssh python3 curl
[ -x /usr/bin/chromium ] || skip "chromium is not installed (scripts/install-deps --tests)"
[ -x /usr/bin/chromedriver ] || skip "chromium-driver is not installed"
/usr/bin/python3 -c "import selenium" 2>/dev/null || skip "python3-selenium is not installed (Debian's, for /usr/bin/python3)"

unset CLASSLAB_DB CLASSLAB_URI LIBVIRT_DEFAULT_URI
H=$(mktemp -d /tmp/clw.XXXX) || exit 1
export CLASSLAB_HOME=$H
LAB=e2e-web
LABFILE=$H/web.json
T=$H/t
mkdir -p "$T"
sed -e 's/"public_host": "127.0.0.1",/&\n  "port_range": [53000, 53999],/' \
	-e 's/"name": "e2e-two"/"name": "'$LAB'"/' "$CL_TEST_DATA/labs/two.json" >"$LABFILE"

SERVE_PID=
# shellcheck disable=SC2317 # called through trap
cleanup() {
	local rc=$?
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	[ "$rc" != 0 ] && [ -f "$T/serve.log" ] && { echo "---- serve log ----" >&2; tail -40 "$T/serve.log" >&2; }
	finish_labs "$rc" "$H" "$LAB"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
JPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
must -q up "$LABFILE" --no-start
must lab set "$LAB" --stop-grace-seconds 10
must schedule add "$LAB" --start "$(date -u -d '+3 days' +%Y-%m-%dT10:00:00Z)" \
	--end "$(date -u -d '+3 days' +%Y-%m-%dT12:00:00Z)"
"$CLASSLAB" serve --interval 5 --http "127.0.0.1:$PORT" --jupyter-port "$JPORT" >>"$T/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "$BASE/" && break; sleep 0.2; done
curl -s -o /dev/null "$BASE/" || fail "the web page did not come up"
link() { # link ARGS: the link `classlab ARGS --url BASE -o json` prints
	"$CLASSLAB" -o json "$@" --url "$BASE" | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(v[0]["link"] if isinstance(v, list) else v["link"])'
}
ALICE=$(link students invite "$LAB" alice) || fail "students invite alice"
BOB=$(link students invite "$LAB" bob) || fail "students invite bob"
ADMIN=$(link admin invite) || fail "admin invite"
/usr/bin/python3 "$CL_SOURCE_DIR/tests/e2e/web_browser.py" --base "$BASE" --lab "$LAB" \
	--alice "$ALICE" --bob "$BOB" --admin "$ADMIN" --work "$T" --jupyter-port "$JPORT" \
	--shots "${WEB_SHOTS:-$CL_SOURCE_DIR/doc}" || fail "the browser test"
for tok in "${ALICE##*/}" "${BOB##*/}" "${ADMIN##*/}"; do
	grep -q "$tok" "$T/serve.log" && fail "a link's token is in the service's log"
done
pass "no link's token in the service's log"
exit 0
