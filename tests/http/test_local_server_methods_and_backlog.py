"""`make run`'s server under what `make fuzz` and `make load` sent it: a method outside the seven on an
existing route is a 405 problem+json (not waitress's 501 page), and a burst of connections arriving while
it is busy is queued by the kernel, not reset."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.http_server import LocalHttpServer
from tests.support import SEED, Server, running_server

pytestmark = pytest.mark.http


@dataclass
class LocalServer:
    http: Server
    httpd: LocalHttpServer


@pytest.fixture(scope="module")
def local_server() -> Iterator[LocalServer]:
    with running_server() as (server, httpd):
        yield LocalServer(server, httpd)


ROUTES = [("/api/execute", "POST"), ("/api/execute/V1StGXR8_Z5jdHi6B-myT/status", "GET")]


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PROPFIND"])
@pytest.mark.parametrize(("path", "allow"), ROUTES)
def test_make_run_answers_any_other_method_with_405_not_a_501_page(
    local_server: LocalServer, method: str, path: str, allow: str
) -> None:
    # When a method outside GET/POST/PUT/PATCH/DELETE/HEAD/OPTIONS reaches make run on an existing route
    reply = local_server.http.request(method, path)
    # Then it is refused like PUT or DELETE there: 405 problem+json naming the route's method
    assert reply.status == 405, (reply.status, reply.raw[:200])
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.headers["Allow"] == allow
    assert reply.body["code"] == "method_not_allowed"


def test_make_run_absorbs_sixteen_connections_arriving_while_it_is_busy(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """make load's 16 clients got `Connection reset by peer` from make run: its accept loop is slow while the
    handlers hold the GIL, and the listen backlog (socketserver's default, 5) overflowed. Here the accept loop
    is held still instead, which makes the same overflow deterministic: connections the kernel cannot queue
    are not completed (their SYN is dropped and retried a second later, or reset)."""
    # Given make run's accept loop is momentarily not accepting (as when its handlers are busy)
    release = threading.Event()
    real_handle_accept = local_server.httpd.server.handle_accept

    def held_handle_accept() -> Any:
        release.wait(timeout=30)
        return real_handle_accept()

    monkeypatch.setattr(local_server.httpd.server, "handle_accept", held_handle_accept)
    port = int(local_server.http.url.rsplit(":", 1)[1])
    connections: list[socket.socket] = []
    refused = 0
    try:
        # When 16 clients connect at that moment
        for _ in range(16):
            try:
                connections.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
            except OSError:
                refused += 1
    finally:
        monkeypatch.undo()
        release.set()
        for connection in connections:
            connection.close()
    # Then the kernel queued every one of them for the server to accept when it gets to it
    assert refused == 0, f"{refused} of 16 connections could not be opened while make run was busy"
    # And the server still answers once it accepts again
    assert local_server.http.post(SEED).status == 202
