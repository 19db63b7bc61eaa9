"""`make run`'s HTTP layer: waitress, a WSGI server, so that no HTTP parsing is our own code.

Why waitress: docs/local-development.md, "make run's HTTP layer".

What we add to it is small: the request's header lines as the client sent them (name case and
repeats), which API Gateway passes to the function (`headers`, `multiValueHeaders`) and WSGI's
environ cannot carry (it upper-cases names and joins repeats); response header names as the function
spelled them; and a shutdown() for tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import WSGITask

RAW_HEADERS = "local.raw_headers"  # environ key: [(name, value), ...] in the order received
READ_TIMEOUT = 30  # seconds a connection may send nothing (mid-request or idle) before it is closed
WORKER_THREADS = 8  # the functions run one at a time anyway (LocalApi's lock); docs pages need none
CONNECTION_LIMIT = 1000  # waitress's default of 100 would let 100 slow clients shut the door on others


class _Parser(HTTPRequestParser):
    raw_header = b""

    def parse_header(self, header_plus: bytes) -> None:
        self.raw_header = header_plus  # waitress validates it in the call below; we only keep it
        super().parse_header(header_plus)


class _Task(WSGITask):
    def get_environment(self) -> Any:
        environ = super().get_environment()
        environ.setdefault(RAW_HEADERS, header_fields(getattr(self.request, "raw_header", b"")))
        return environ

    def build_response_header(self) -> bytes:
        # waitress re-capitalizes names (WWW-Authenticate -> Www-Authenticate); API Gateway sends a
        # function's header names as the function spelled them, and so do we.
        spelled = {name.lower(): name for name, _ in self.response_headers}
        lines = super().build_response_header().split(b"\r\n")
        for number, line in enumerate(lines[1:], start=1):
            name, colon, rest = line.partition(b":")
            original = spelled.get(name.decode("latin-1").lower())
            if colon and original:
                lines[number] = original.encode("latin-1") + colon + rest
        return b"\r\n".join(lines)


class _Channel(HTTPChannel):
    parser_class = _Parser
    task_class = _Task


class _Server(TcpWSGIServer):
    channel_class = _Channel


def header_fields(raw_header: bytes) -> list[tuple[str, str]]:
    """The header fields of a request head that waitress has already parsed and accepted: its syntax
    is checked (field names are tokens, no obsolete line folding, no bare CR or LF), so splitting on
    the first colon and dropping the optional whitespace around the value is all that is left."""
    fields = []
    for line in raw_header.split(b"\r\n")[1:]:
        if not line:
            continue  # the blank line that ends the head
        name, _, value = line.partition(b":")
        fields.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return fields


class LocalHttpServer:
    """A waitress server on host:port, serving in a thread of its own until stop()."""

    def __init__(self, app: Any, host: str, port: int, read_timeout: int = READ_TIMEOUT) -> None:
        # The queue logger warns whenever requests wait for a worker: normal here, as they wait for the lock.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self.app = app
        self.server = _Server(
            app,
            host=host,
            port=port,
            threads=WORKER_THREADS,
            connection_limit=CONNECTION_LIMIT,
            asyncore_use_poll=True,  # select() stops at 1,024 descriptors
            channel_timeout=read_timeout,
            cleanup_interval=1,  # how often idle connections are looked for
            ident="execution-api-local",
            max_request_body_size=_BODY_LIMIT,
        )
        self.port = int(self.server.getsockname()[1])
        self._thread = threading.Thread(target=self.server.run, name="make-run-http", daemon=True)
        self._stopped = False

    def start(self) -> LocalHttpServer:
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Close the listener and every connection from the I/O thread, then stop the workers."""
        if self._stopped:
            return
        self._stopped = True
        socket_map = self.server._map  # type: ignore[attr-defined] # waitress keeps its connections there
        try:
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))  # type: ignore[attr-defined]
        except OSError:  # the I/O thread's wake-up pipe is already closed, so is its loop: close from here
            wasyncore.close_all(socket_map, ignore_all=True)
        self._thread.join(timeout=10)
        self.server.task_dispatcher.shutdown()

    def server_close(self) -> None:
        """Kept for callers written for socketserver; shutdown() already closed everything."""
        self.shutdown()


# API Gateway refuses bodies over 10 MB with the template's REQUEST_TOO_LARGE answer, which LocalApi
# renders after reading the body; beyond twice that, waitress answers 413 itself without reading it.
_BODY_LIMIT = 20 * 1024 * 1024


def header_lists(fields: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Repeated fields as API Gateway's multiValueHeaders: one list per name, in the order received."""
    lists: dict[str, list[str]] = {}
    for name, value in fields:
        lists.setdefault(name, []).append(value)
    return lists
