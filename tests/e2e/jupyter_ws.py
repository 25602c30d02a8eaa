#!/usr/bin/env python3
"""Jupyter's REST API and kernel WebSocket, with the standard library only.

Usage: jupyter_ws.py BASE_URL TOKEN CODE
Creates a kernel (POST /api/kernels), sends one execute_request for CODE over
/api/kernels/ID/channels (RFC 6455, client frames masked), prints the
execute_result's text/plain, deletes the kernel. Exit 0 when a result came, 1
otherwise (the reason on stderr).
"""
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.parse
import urllib.request
import uuid


def api(base, token, method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "token " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        data = r.read()
        return json.loads(data) if data else None


class WS:
    def __init__(self, host, port, path, token):
        self.s = socket.create_connection((host, port), timeout=120)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        f"Sec-WebSocket-Version: 13\r\nAuthorization: token {token}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(1)
            if not chunk:
                raise RuntimeError("connection closed during the WebSocket handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError("WebSocket handshake refused: " + head.decode(errors="replace").split("\r\n")[0])

    def _exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise RuntimeError("WebSocket closed")
            b += c
        return b

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            mask = self._exact(4) if b1 & 0x80 else None
            data = self._exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0F
            if op == 8:
                raise RuntimeError("WebSocket closed by the server")
            if op == 9:  # ping: pong
                continue
            if op in (0, 1, 2):
                msg += data
                if b0 & 0x80:
                    return msg.decode()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    base, token, code = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    u = urllib.parse.urlparse(base)
    kernel = api(base, token, "POST", "/api/kernels", {"name": "python3"})
    kid = kernel["id"]
    print(f"kernel {kid} created", file=sys.stderr)
    try:
        ws = WS(u.hostname, u.port, f"/api/kernels/{kid}/channels?token={token}", token)
        session = uuid.uuid4().hex
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "e2e", "session": session, "msg_type": "execute_request",
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        deadline = time.time() + 240
        while time.time() < deadline:
            m = json.loads(ws.recv())
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t = m.get("msg_type") or m["header"]["msg_type"]
            if t == "execute_result":
                print(m["content"]["data"]["text/plain"])
                return 0
            if t == "error":
                print("kernel error: %s: %s" % (m["content"]["ename"], m["content"]["evalue"]), file=sys.stderr)
                return 1
        print("no execute_result within 240 s", file=sys.stderr)
        return 1
    finally:
        try:
            api(base, token, "DELETE", f"/api/kernels/{kid}")
        except Exception as e:  # the result is what counts
            print(f"deleting the kernel: {e}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
