"""A websocket client over a plain socket (RFC 6455), for tests that need one outside a browser:
frames of any size, headers of the test's choosing, several processes at once.

    ws = WebSocket.open(port, origin="https://chat.example", cookie="sessionid=…")
    ws.send_json({"type": "subscribe", "conversation": code})
    frame = ws.recv_json(timeout=5)         # pings are answered, close frames raise Closed
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import time


class Closed(Exception):
    """The server closed the socket; code is its close code (None when it just dropped it)."""

    def __init__(self, code: int | None, reason: bytes = b"") -> None:
        super().__init__(code, reason)
        self.code, self.reason = code, reason


class WebSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    def open(cls, port: int, *, origin: str, cookie: str, host: str | None = None, path: str = "/ws/chat/"):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host or f'127.0.0.1:{port}'}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {origin}",
            f"Cookie: {cookie}",
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        ws = cls(sock)
        head = ws._until(b"\r\n\r\n", 10)
        status = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if not status or status.group(1) != b"101":
            sock.close()
            raise Closed(None, head[:200])
        return ws

    def _until(self, marker: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None)
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _exactly(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None)
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """One masked frame, as a browser sends it (RFC 6455 5.2)."""
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            head = bytes([0x80 | opcode, 0x80 | size])
        elif size < 1 << 16:
            head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        with contextlib.suppress(OSError):  # the server may close before all of it is taken
            self.sock.sendall(head + mask + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(0x1, text.encode())

    def send_json(self, frame: dict) -> None:
        self.send_text(json.dumps(frame))

    def recv_frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """(opcode, payload) of the server's next frame other than a ping (answered)."""
        deadline = time.monotonic() + timeout
        while True:
            first, second = self._exactly(2, deadline)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(self._exactly(2, deadline), "big")
            elif size == 127:
                size = int.from_bytes(self._exactly(8, deadline), "big")
            opcode, payload = first & 0x0F, self._exactly(size, deadline)
            if opcode == 0x9:  # ping
                self.send_frame(0xA, payload)
                continue
            return opcode, payload

    def recv_json(self, timeout: float = 5.0) -> dict:
        opcode, payload = self.recv_frame(timeout)
        if opcode == 0x8:
            raise Closed(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None, payload[2:])
        return json.loads(payload)

    def until(self, predicate, timeout: float = 10.0) -> list[dict]:
        """Frames until one satisfies predicate (all of them, that one last)."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            frame = self.recv_json(max(0.01, deadline - time.monotonic()))
            frames.append(frame)
            if predicate(frame):
                return frames

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send_frame(0x8, (1000).to_bytes(2, "big"))
            self.sock.close()
