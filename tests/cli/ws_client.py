#!/usr/bin/env python3
"""A small WebSocket client (RFC 6455, written out here: no library) for
tests/cli/web-jupyter-ws.sh, with Jupyter's kernel messages (protocol 5, JSON text
frames on /api/kernels/ID/channels).

  ws_client.py status  PORT PATH COOKIE [ORIGIN]   prints the handshake's status
  ws_client.py execute PORT PATH COOKIE CODE [S]   prints the execute_result's text/plain
                                                   (sent S seconds after the handshake)
  ws_client.py hold    PORT PATH COOKIE N          opens N sockets, prints each status, then
                                                   "open", waits for stdin's EOF; then each
                                                   one's end ("closed" or "alive")
WS_TLS=CERT.pem: over TLS, trusting that certificate.
"""
import base64
import json
import os
import socket
import struct
import sys
import time
import uuid


def handshake(port, path, cookie, origin=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    if os.environ.get("WS_TLS"):  # the service's own HTTPS (a test's self-signed cert)
        import ssl
        ctx = ssl.create_default_context(cafile=os.environ["WS_TLS"])
        ctx.check_hostname = False
        s = ctx.wrap_socket(s)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET %s HTTP/1.1" % path,
        "Host: 127.0.0.1:%d" % port,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: " + key,
        "Sec-WebSocket-Version: 13",
    ]
    if origin is None:
        origin = "%s://127.0.0.1:%d" % ("https" if os.environ.get("WS_TLS") else "http", port)
    if origin:
        lines.append("Origin: " + origin)
    if cookie:
        lines.append("Cookie: classlab_session=" + cookie)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            break
        head += b
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
    if status == 101:
        import hashlib
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        got = [l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n")
               if l.lower().startswith(b"sec-websocket-accept:")]
        if got != [want]:
            raise SystemExit("bad Sec-WebSocket-Accept: %r (want %r)" % (got, want))
    return s, status


def send_frame(s, opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    s.sendall(hdr + mask + masked)


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise EOFError
        out += b
    return out


def recv_message(s):
    """One whole message (fragments joined): (opcode, payload)."""
    data, first = b"", None
    while True:
        b0, b1 = recv_exact(s, 2)
        op, n = b0 & 0x0F, b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", recv_exact(s, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", recv_exact(s, 8))[0]
        mask = recv_exact(s, 4) if b1 & 0x80 else None
        p = recv_exact(s, n)
        if mask:
            p = bytes(b ^ mask[i % 4] for i, b in enumerate(p))
        if op == 0x9:  # ping: pong
            send_frame(s, 0xA, p)
            continue
        if op >= 0x8:
            if op == 0x8:
                return op, p
            continue
        if first is None:
            first = op
        data += p
        if b0 & 0x80:
            return first, data


def execute(port, path, cookie, code, delay=0.0):
    s, status = handshake(port, path, cookie)
    if status != 101:
        raise SystemExit("handshake answered %d" % status)
    time.sleep(delay)
    session, msg_id = uuid.uuid4().hex, uuid.uuid4().hex
    msg = {
        "header": {"msg_id": msg_id, "username": "test", "session": session,
                   "msg_type": "execute_request", "version": "5.3",
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }
    send_frame(s, 0x1, json.dumps(msg).encode())
    s.settimeout(60)
    end = time.time() + 60
    while time.time() < end:
        op, p = recv_message(s)
        if op == 0x8:
            raise SystemExit("closed before the result")
        if op != 0x1:
            continue
        m = json.loads(p)
        if m.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if m["header"]["msg_type"] == "execute_result":
            print(m["content"]["data"]["text/plain"])
            send_frame(s, 0x8, struct.pack("!H", 1000))
            try:  # the close handshake's answer, through the proxy
                while recv_message(s)[0] != 0x8:
                    pass
                print("close answered")
            except (EOFError, OSError):
                print("close not answered")
            s.close()
            return
        if m["header"]["msg_type"] == "error":
            raise SystemExit("kernel error: %r" % m["content"])
    raise SystemExit("no execute_result within 60 s")


def hold(port, path, cookie, n):
    socks = []
    for _ in range(n):
        s, status = handshake(port, path, cookie)
        print(status, flush=True)
        socks.append(s)
    print("open", flush=True)
    sys.stdin.read()
    for s in socks:
        s.settimeout(10)
        try:
            while True:  # the proxy closes: EOF (Jupyter's frames before it are skipped)
                if not s.recv(65536):
                    print("closed")
                    break
        except (socket.timeout, OSError):
            print("alive")
    sys.stdout.flush()


def main():
    cmd, port, path, cookie = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if cmd == "status":
        origin = sys.argv[5] if len(sys.argv) > 5 else None
        print(handshake(port, path, cookie, origin)[1])
    elif cmd == "execute":
        execute(port, path, cookie, sys.argv[5], float(sys.argv[6]) if len(sys.argv) > 6 else 0)
    elif cmd == "hold":
        hold(port, path, cookie, int(sys.argv[5]))


if __name__ == "__main__":
    main()
