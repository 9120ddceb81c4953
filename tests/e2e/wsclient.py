"""A small WebSocket client (RFC 6455) for the tests: Python's standard library has none. Text
frames, pings answered, close frames read with their code. Enough to drive /v1/notify."""

import base64
import os
import socket
import struct
import time
import urllib.parse


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed: {code} {reason}")
        self.code = code
        self.reason = reason


class WebSocket:
    def __init__(self, url, token=None, timeout=10):
        """Connects to an http:// URL's host and upgrades at its path. Raises HttpRefused when the
        server answers with anything but 101."""
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n")
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            got = self.sock.recv(4096)
            if not got:
                raise ConnectionError("connection closed during the handshake")
            self.buffer += got
        response, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line = response.split(b"\r\n", 1)[0].decode()
        self.status = int(status_line.split()[1])
        if self.status != 101:
            body = self.buffer
            self.sock.close()
            raise HttpRefused(self.status, body.decode(errors="replace"))

    def _read(self, n):
        while len(self.buffer) < n:
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError("connection closed")
            self.buffer += got
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _send(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def receive(self, timeout=10):
        """The next text message; answers pings on the way. Raises Closed on a close frame,
        socket.timeout when nothing comes within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            first, second = self._read(2)
            opcode = first & 0x0F
            n = second & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            if opcode == 0x9:  # ping
                self._send(0xA, payload)
            elif opcode == 0x8:  # close
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code, payload[2:].decode(errors="replace"))
            elif opcode == 0x1:
                return payload.decode()

    def close(self):
        try:
            self._send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


class HttpRefused(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
