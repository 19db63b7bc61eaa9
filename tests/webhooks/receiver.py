"""A webhook receiver on 127.0.0.1 for tests: answers from a script and records what it was sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class ScriptedAnswer:
    """What the receiver answers to one delivery (the last one repeats)."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    stream_bytes: int = 0  # then this many more body bytes, for an oversized answer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, answers: list[ScriptedAnswer]) -> None:
        self.answers = list(answers)
        self.received: list[Received] = []
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/executions"

    port: int = 0

    def next_answer(self) -> ScriptedAnswer:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@contextmanager
def receiver(*answers: ScriptedAnswer) -> Iterator[Receiver]:
    state = Receiver(list(answers) or [ScriptedAnswer()])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.received.append(Received("POST", self.path, dict(self.headers.items()), body))
            answer = state.next_answer()
            if answer.delay:
                state.stop.wait(answer.delay)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body) + answer.stream_bytes))
            self.end_headers()
            try:
                self.wfile.write(answer.body)
                chunk = b"x" * 65536
                left = answer.stream_bytes
                while left > 0 and not state.stop.is_set():
                    self.wfile.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
            except OSError:
                pass  # the client stopped reading, as it should

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # a quick shutdown()
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        time.sleep(0)
