#!/usr/bin/env python3
"""Sends one raw request of tests/data/hostile/http to the web page; prints the status
("closed" when the connection closed without one) and " UNSAFE" when the answer
carries a file's contents, a reflected <script> or an injected header."""
import re
import socket
import sys

raw = open(sys.argv[2]).read()
raw = re.sub(r"\{\{(.)\*(\d+)\}\}", lambda m: m.group(1) * int(m.group(2)), raw)
raw = raw.replace("\n", "\r\n")
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
try:
    s.sendall(raw.encode())
except OSError:
    pass
data = b""
try:
    while len(data) < 200000:
        b = s.recv(65536)
        if not b:
            break
        data += b
        head = data.partition(b"\r\n\r\n")[0]
        m = re.search(rb"(?im)^content-length: *(\d+)", head)
        if m and len(data) >= len(head) + 4 + int(m.group(1)):
            break
except (socket.timeout, ConnectionResetError):
    pass
head = data.partition(b"\r\n\r\n")[0]
status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "closed"
bad = b"root:" in data or b"<script>alert" in data or re.search(rb"(?im)^set-cookie: *evil", head)
print(status + (" UNSAFE" if bad else ""))
