#!/bin/bash
# The script classlab serve runs on a VM to read Jupyter's last activity
# (templates/service.c, jupyter_activity_py), run here against a stub `jupyter` on PATH
# and a local HTTP server answering /api/status as Jupyter Server does:
#   two servers -> the newer last_activity, as Unix seconds; a wrong token -> that
#   server is skipped; no jupyter -> 0; and the script survives the shell's quoting;
#   then, where jupyter-notebook is installed, a real Notebook server (Debian 12's
#   classic notebook 6) on loopback: its last_activity, within a minute of now.
# Exit: 0 pass, 1 fail, 77 skipped.
set -u
command -v python3 >/dev/null || { echo "SKIP: no python3" >&2; exit 77; }
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
T=$(mktemp -d) || exit 1
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The script, as the C string holds it.
python3 - "$CL_SOURCE_DIR/templates/service.c" "$T/activity.py" <<'PY' || fail "cannot extract the script"
import re, sys
src = open(sys.argv[1]).read()
s = src.index("static const char jupyter_activity_py[] =")
e = src.index(";", src.index('"print(best)', s))
parts = re.findall(r'"((?:[^"\\]|\\.)*)"', src[s:e])
script = "".join(parts).encode().decode("unicode_escape")
assert "'" not in script, "the script must hold no single quote (it is sent in one)"
open(sys.argv[2], "w").write(script)
PY

# A stub Jupyter Server: /api/status with a token per port.
cat >"$T/server.py" <<'PY'
import http.server, json, sys, threading
def serve(port, token, last):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = self.path == "/api/status?token=" + token
            body = json.dumps({"last_activity": last}).encode()
            self.send_response(200 if ok else 403)
            self.end_headers()
            if ok:
                self.wfile.write(body)
        def log_message(self, *a):
            pass
    s = http.server.HTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    threading.Thread(target=s.serve_forever, daemon=True).start()
serve(0, "aaa", "2026-11-29T10:00:00.000000Z")
serve(0, "bbb", "2026-11-29T12:30:00.000000Z")
serve(0, "ccc", "2026-11-29T23:00:00.000000Z")
threading.Event().wait()
PY
python3 "$T/server.py" >"$T/ports" &
SERVER_PID=$!
for _ in $(seq 50); do [ "$(wc -l <"$T/ports")" -ge 3 ] && break; sleep 0.1; done
mapfile -t P <"$T/ports"
[ "${#P[@]}" = 3 ] || fail "stub servers did not start"
mkdir -p "$T/bin"
cat >"$T/bin/jupyter" <<EOF2
#!/bin/sh
[ "\$*" = "server list --json" ] || exit 2
echo '{"url": "http://127.0.0.1:${P[0]}/", "token": "aaa"}'
echo '{"url": "http://127.0.0.1:${P[1]}/", "token": "bbb"}'
echo '{"url": "http://127.0.0.1:${P[2]}/", "token": "wrong"}'
EOF2
chmod +x "$T/bin/jupyter"

run() { PATH="$1:/usr/bin:/bin" sh -c "python3 -c '$(cat "$T/activity.py")' 2>/dev/null || echo 0"; }
NB_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; [ -n "$NB_PID" ] && kill "$NB_PID" 2>/dev/null; rm -rf "$T"' EXIT
want=$(date -u -d 2026-11-29T12:30:00Z +%s)
got=$(run "$T/bin")
[ "$got" = "$want" ] || fail "two servers and a refused one: got '$got', want $want"
echo "ok: the newest activity of the servers that answer ($got)"
got=$(run "$T/none")
[ "$got" = 0 ] || fail "no jupyter server: got '$got', want 0"
echo "ok: no jupyter server running -> 0"

# A real Notebook server, found by `jupyter notebook list` through its runtime directory.
command -v jupyter-notebook >/dev/null || { echo "ok: (no jupyter-notebook here: real server not tried)"; exit 0; }
export HOME=$T/home JUPYTER_RUNTIME_DIR=$T/runtime JUPYTER_CONFIG_DIR=$T/config JUPYTER_DATA_DIR=$T/data
mkdir -p "$HOME" "$T/nb"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
jupyter-notebook --no-browser --allow-root --ip=127.0.0.1 --port="$PORT" --port-retries=0 \
	--NotebookApp.token=tok --notebook-dir="$T/nb" >"$T/nb.log" 2>&1 &
NB_PID=$!
for _ in $(seq 100); do
	ls "$JUPYTER_RUNTIME_DIR"/nbserver-*.json >/dev/null 2>&1 && break
	sleep 0.2
done
ls "$JUPYTER_RUNTIME_DIR"/nbserver-*.json >/dev/null 2>&1 || fail "the notebook did not start: $(tail -5 "$T/nb.log")"
got=$(run /usr/bin)
now=$(date +%s)
[ "$got" -gt $((now - 60)) ] && [ "$got" -le $((now + 5)) ] ||
	fail "a real notebook server: got '$got', want within a minute of $now"
echo "ok: a real Jupyter Notebook server's last activity ($got, $((now - got)) s ago)"
