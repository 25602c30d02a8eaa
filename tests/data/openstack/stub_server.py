#!/usr/bin/env python3
"""stub: a loopback Keystone and compute API for tests/unit/test_openstack_client.c.

Binds 127.0.0.1 on a free port and prints the port on stdout. With --tls DIR it
serves HTTPS with a new self-signed certificate for IP 127.0.0.1 that it writes to
DIR/stub-cert.pem (openssl makes it; without openssl it prints 0 and exits). Serves:
  POST /v3/auth/tokens      a token "stubtoken-N" (password "stub-secret" or app
                            credential secret "stub-app-secret"), else Keystone's 401
  GET  /stub/stats          {"tokens": N, "hits": {path: n}, "ports": [client ports]}
  POST /stub/config         {"expires_in": S} for the next tokens; {"tls_port": P}
                            puts P (the TLS stub) in the catalog as "tlscompute"
  /compute/...              scripted answers (see ANSWERS below)
Each compute request records the path; a scripted sequence is taken in order and
its last step repeats.
"""
import datetime, json, os, ssl, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEME = "http"
STATE = {"tokens": 0, "hits": {}, "ports": [], "expires_in": 3600, "last": {}}
LOCK = threading.Lock()

HTML_404 = ("<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n"
            "  <h1>404 Not Found</h1>\n  No image found with ID abc.<br /><br />\n\n\n"
            " </body>\n</html>")
OK = (200, {}, {"ok": True})
# path -> [(status, headers, body)]: the nth request gets step n (the last repeats)
ANSWERS = {
    "/compute/r429": [(429, {"Retry-After": "1"},
                       {"overLimit": {"code": 429, "message": "slow down"}}), OK],
    "/compute/r409": [(409, {}, {"conflictingRequest": {"code": 409, "message": "busy"}}),
                      (409, {}, {"conflictingRequest": {"code": 409, "message": "busy"}}), OK],
    "/compute/always503": [(503, {"Retry-After": "0"},
                            "<html><body><h1>503 Service Unavailable</h1>\n"
                            "No server is available to handle this request.\n</body></html>")],
    "/compute/always401": [(401, {}, {"error": {"code": 401, "title": "Unauthorized",
                                                "message": "stub says no"}})],
    "/compute/nova404": [(404, {}, {"itemNotFound": {"code": 404,
                                                     "message": "Instance x could not be found."}})],
    "/compute/neutron404": [(404, {}, {"NeutronError": {"type": "NetworkNotFound",
                                                        "message": "Network n could not be found.",
                                                        "detail": ""}})],
    "/compute/glance404": [(404, {"Content-Type": "text/html"}, HTML_404)],
    "/compute/glancejson": [(404, {}, {"message": "No image found with ID abc.<br /><br />\n\n\n",
                                       "code": "404 Not Found", "title": "Not Found"})],
    "/compute/lt400": [(400, {}, {"badRequest": {"code": 400, "message": "min_disk 1 < 2 <b"}})],
    "/compute/text400": [(400, {"Content-Type": "text/plain"},
                          "  bad thing happened  \nsecond line\n")],
    "/compute/plain": [(400, {}, {"message": "top-level message"})],
    "/compute/notjson": [(200, {"Content-Type": "text/plain"}, "this is not json")],
    "/compute/empty": [(204, {}, None)],
}


def token_body(port):
    exp = datetime.datetime.utcnow() + datetime.timedelta(seconds=STATE["expires_in"])
    base = "%s://127.0.0.1:%d" % (SCHEME, port)
    return {"token": {
        "expires_at": exp.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "user": {"id": "u1", "name": "stub"},
        "catalog": [
            {"type": "compute", "endpoints": [
                {"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo",
                 "url": base + "/elsewhere/"},
                {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne",
                 "url": base + "/internal/"},
                {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                 "url": base + "/compute/"}]},
            {"type": "tlscompute", "endpoints": [
                {"interface": "public", "region_id": "RegionOne",
                 "url": "https://127.0.0.1:%d/compute" % STATE.get("tls_port", 1)}]},
            {"type": "stub", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "url": base + "/stub"}]},
        ]}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's one connection is seen

    def log_message(self, *args):
        pass

    def send(self, status, headers, body):
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            headers = dict(headers)
            headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        raw = self.body()
        path = self.path.split("?")[0]
        with LOCK:
            STATE["ports"].append(self.client_address[1])
            n = STATE["hits"].get(path, 0)
            STATE["hits"][path] = n + 1
        if path == "/v3/auth/tokens" and self.command == "POST":
            ident = json.loads(raw)["auth"]["identity"]
            ok = (ident.get("password", {}).get("user", {}).get("password") == "stub-secret" or
                  ident.get("application_credential", {}).get("secret") == "stub-app-secret")
            if not ok:
                return self.send(401, {}, {"error": {
                    "code": 401, "title": "Unauthorized",
                    "message": "The request you have made requires authentication."}})
            with LOCK:
                STATE["tokens"] += 1
                tok = "stubtoken-%d" % STATE["tokens"]
            return self.send(201, {"X-Subject-Token": tok}, token_body(self.server.server_port))
        if path == "/stub/stats":
            with LOCK:
                return self.send(200, {}, {"tokens": STATE["tokens"], "hits": STATE["hits"],
                                           "ports": sorted(set(STATE["ports"])),
                                           "last": STATE["last"]})
        if path == "/stub/config":
            STATE.update(json.loads(raw))
            return self.send(204, {}, None)
        token = self.headers.get("X-Auth-Token", "")
        if not token.startswith("stubtoken-"):
            return self.send(401, {}, {"error": {"code": 401, "message": "no token"}})
        with LOCK:
            STATE["last"] = {"token": token, "method": self.command, "path": self.path,
                             "api_version": self.headers.get("OpenStack-API-Version", ""),
                             "content_type": self.headers.get("Content-Type", ""),
                             "length": len(raw), "body": raw.decode(errors="replace")[:200]}
        if path == "/compute/renew401":
            # 401 for the first token only: the client must renew once and repeat
            if token == "stubtoken-1":
                return self.send(401, {}, {"error": {"code": 401, "message": "expired"}})
            return self.send(*OK)
        if path in ("/compute/drop2", "/compute/dropall"):
            # no answer at all, the connection closed: a transport error
            if path == "/compute/dropall" or STATE["hits"][path] <= 2:
                self.close_connection = True
                return
            return self.send(*OK)
        if path == "/compute/slow":
            time.sleep(3)
            return self.send(*OK)
        if path == "/compute/echo":
            return self.send(200, {}, STATE["last"])
        seq = ANSWERS.get(path)
        if seq is None:
            return self.send(404, {}, {"itemNotFound": {"code": 404, "message": "no " + path}})
        return self.send(*seq[min(n, len(seq) - 1)])

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (a timeout test, a refused certificate)


def main():
    global SCHEME
    srv = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 3 and sys.argv[1] == "--tls":
        cert = os.path.join(sys.argv[2], "stub-cert.pem")
        key = os.path.join(sys.argv[2], "stub-key.pem")
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-days", "2", "-subj", "/CN=classlab stub",
                            "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError):
            print(0, flush=True)
            return 0
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        SCHEME = "https"
    print(srv.server_port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
