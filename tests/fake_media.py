"""A client's media host on loopback, playing every bad input of issue 21 point 4 (404, HTML, zero bytes,
a huge or unannounced body, a slow body, 503, redirects to refused addresses and in a loop, a picture where
a video is needed, a text file of no media format)."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40  # an MP4's first box, then no video at all


def png(width: int = 32, height: int = 32) -> bytes:
    """A real, valid RGB PNG of one colour (the format's chunks: signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xc0\x20\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = png()


class FakeMedia(BaseHTTPRequestHandler):
    """What a client's media host may do."""

    def log_message(self, *_: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "video/mp4", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", headers.pop("length", str(len(body))))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/clip.mp4":
            self._answer(200, VIDEO)
        elif path == "/photo.png":
            self._answer(200, PNG, "image/png")
        elif path == "/notes.txt":  # served as a video by a careless host: ffmpeg finds no media format in it
            self._answer(200, b"Shot list\n1. the cat\n2. the skateboard\n" * 20, "video/mp4")
        elif path == "/missing.mp4":
            self._answer(404, b"not found", "text/plain")
        elif path == "/page.mp4":
            self._answer(200, b"<html><body>Sign in</body></html>", "text/html; charset=utf-8")
        elif path == "/empty.mp4":
            self._answer(200, b"")
        elif path == "/huge.mp4":
            self._answer(200, b"x" * 10, length=str(10**12))
        elif path == "/unannounced.mp4":  # no Content-Length: the body runs until the connection closes
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(VIDEO * 4)
        elif path == "/slow.mp4":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(1000))
            self.end_headers()
            for _ in range(100):  # 10 bytes every 50 ms: each read in time, the whole far too slow
                self.wfile.write(b"x" * 10)
                self.wfile.flush()
                time.sleep(0.05)
        elif path == "/busy.mp4":
            self._answer(503, b"try later", "text/plain")
        elif path == "/moved.mp4":
            self._answer(302, b"", Location="/clip.mp4")
        elif path == "/to-private.mp4":
            self._answer(302, b"", Location="http://10.0.0.7/clip.mp4")
        elif path == "/to-metadata.mp4":
            self._answer(302, b"", Location="http://169.254.169.254/latest/meta-data/")
        elif path == "/loop.mp4":
            self._answer(302, b"", Location="/loop.mp4")
        else:
            self._answer(500, b"", "text/plain")


@pytest.fixture(scope="module")
def media_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMedia)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # a quick shutdown()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
