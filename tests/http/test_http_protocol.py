"""`make run` speaks HTTP/1.1 as RFC 9112 says, over raw sockets: what a hostile-input run found in the
hand-written handling it had before (issue 9, point 10), one test per kind.

The server here has authentication on (as with LOCAL_API_KEY) and a short read timeout, so that a
connection that stops sending is closed within seconds."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.http_server import LocalHttpServer
from tests.support import SEED, Server, all_items, running_server

pytestmark = pytest.mark.http

KEY = "protocol-test-key"
READ_TIMEOUT = 2  # seconds the server waits for a silent connection (make run's default is 30)
SOCKET_TIMEOUT = 20  # how long a test waits for an answer: far longer than any answer takes


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Server, LocalHttpServer]]:
    with running_server(api_key=KEY, read_timeout=READ_TIMEOUT) as pair:
        yield pair


@pytest.fixture
def server(served: tuple[Server, LocalHttpServer]) -> Server:
    return served[0]


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post_head(*extra: str, length: int | None = len(SEED)) -> list[str]:
    lines = [
        "POST /api/execute HTTP/1.1",
        "Host: localhost",
        "Content-Type: application/json",
        f"Authorization: Bearer {KEY}",
        "Connection: close",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return [*lines, *extra]


def exchange(server: Server, data: bytes) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it (or SOCKET_TIMEOUT passes,
    which raises)."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=SOCKET_TIMEOUT) as connection:
        connection.sendall(data)
        return read_to_end(connection)


def read_to_end(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def status_of(answer: bytes) -> int:
    assert answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), answer[:200]
    return int(answer.split(b" ", 2)[1])


def answers_in(received: bytes) -> int:
    return received.count(b"\r\nContent-Length: ") if received.startswith(b"HTTP/") else 0


# ---------------------------------------------------------------------------------------------------
# Content-Length


@pytest.mark.parametrize(
    "content_length",
    ["abc", "-1", "+5", "5.0", "0x10", "1e3", ""],
    ids=["letters", "negative", "plus-sign", "decimal", "hex", "exponent", "empty"],
)
def test_a_content_length_that_is_not_digits_gets_a_400_answer_not_a_dropped_connection(
    server: Server, content_length: str
) -> None:
    answer = exchange(server, head(*post_head(f"Content-Length: {content_length}", length=None)) + SEED)
    assert status_of(answer) == 400
    assert answers_in(answer) == 1, "the bytes after the head are not read as another request"


def test_two_different_content_lengths_get_a_400_not_the_first_one_winning(server: Server) -> None:
    answer = exchange(server, head(*post_head(f"Content-Length: {len(SEED) + 5}")) + SEED + b"xxxxx")
    assert status_of(answer) == 400


def test_a_content_length_listing_two_values_gets_a_400(server: Server) -> None:
    answer = exchange(server, head(*post_head(length=None), f"Content-Length: {len(SEED)}, 3") + SEED)
    assert status_of(answer) == 400


def test_a_body_shorter_than_its_content_length_is_given_up_after_the_read_timeout(server: Server) -> None:
    # Given a request that promises 100 bytes more than it sends, then goes quiet
    data = head(*post_head(length=len(SEED) + 100)) + SEED
    # When nothing more comes, the server closes the connection itself (exchange reads until it does,
    # and would raise after SOCKET_TIMEOUT if the connection were held forever)
    answer = exchange(server, data)
    # Then without an answer: the request never ended, so nothing of it was acted on
    assert answer == b""


def test_a_connection_that_sends_half_a_request_head_is_closed_after_the_read_timeout(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=SOCKET_TIMEOUT) as connection:
        connection.sendall(b"POST /api/execute HTTP/1.1\r\nHost: local")
        assert read_to_end(connection) == b""


# ---------------------------------------------------------------------------------------------------
# Transfer-Encoding: chunked


def chunked(body: bytes, size: int) -> bytes:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"


def test_a_chunked_body_is_decoded_as_the_body_not_parsed_as_a_second_request(server: Server) -> None:
    # Given the seed request sent in chunks of 7 bytes (no Content-Length)
    data = head(*post_head("Transfer-Encoding: chunked", length=None)) + chunked(SEED, 7)
    # When it is sent
    answer = exchange(server, data)
    # Then it is one request, whose body is the seed: accepted, and readable afterwards
    assert status_of(answer) == 202, answer
    assert answers_in(answer) == 1
    location = next(
        line.split(b": ", 1)[1].decode() for line in answer.split(b"\r\n") if line.startswith(b"Location: ")
    )
    assert server.request("GET", location, headers={"Authorization": f"Bearer {KEY}"}).status == 200


def test_a_malformed_chunked_body_is_a_400(server: Server) -> None:
    data = head(*post_head("Transfer-Encoding: chunked", length=None)) + b"zz\r\n{}\r\n0\r\n\r\n"
    assert status_of(exchange(server, data)) == 400


# ---------------------------------------------------------------------------------------------------
# Methods are case-sensitive (RFC 9110, 9.1)


@pytest.mark.parametrize("method", ["post", "Post", "pOST"])
def test_a_method_in_another_case_is_not_post(server: Server, method: str) -> None:
    before = len(all_items(server.dynamodb(), server.stack.names["ExecutionsTable"]))
    data = head(*[line.replace("POST", method, 1) for line in post_head()]) + SEED
    answer = exchange(server, data)
    assert status_of(answer) in (400, 405, 501), answer[:200]
    assert len(all_items(server.dynamodb(), server.stack.names["ExecutionsTable"])) == before


# ---------------------------------------------------------------------------------------------------
# Header values: optional whitespace is not part of them; the authorizer's pattern decides the rest


@pytest.mark.parametrize(
    "value",
    [f"Bearer {KEY} ", f"Bearer {KEY}\t", f"   Bearer {KEY}", f"\tBearer {KEY} \t "],
    ids=["trailing-space", "trailing-tab", "leading-spaces", "both"],
)
def test_whitespace_around_the_authorization_value_is_not_part_of_it(server: Server, value: str) -> None:
    # RFC 9110 5.5: a field value excludes the optional whitespace around it, so deployed API Gateway
    # hands the authorizer "Bearer <key>" and so does make run
    lines = [line for line in post_head() if not line.startswith("Authorization")]
    answer = exchange(server, head(*lines, f"Authorization:{value}") + SEED)
    assert status_of(answer) == 202, answer


@pytest.mark.parametrize(
    "value",
    [f"Bearer  {KEY}", f"Bearer\t{KEY}", f"bearer {KEY}", f"Bearer {KEY} extra"],
    ids=["two-spaces", "tab-separator", "lower-case-scheme", "trailing-word"],
)
def test_whitespace_inside_the_authorization_value_is_the_authorizers_pattern_to_judge(
    server: Server, value: str
) -> None:
    # API Gateway passes the value as it is to the TOKEN authorizer's ValidationExpression
    # (^Bearer [-A-Za-z0-9._~+/]+=*$ in template.yaml), which refuses these with a 401 before the
    # authorizer function runs; make run applies the same expression to the same value.
    lines = [line for line in post_head() if not line.startswith("Authorization")]
    answer = exchange(server, head(*lines, f"Authorization: {value}") + SEED)
    assert status_of(answer) == 401, answer


# ---------------------------------------------------------------------------------------------------
# The function sees the header fields as API Gateway passes them


def test_repeated_header_fields_reach_the_function_as_api_gateway_passes_them(
    served: tuple[Server, LocalHttpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, httpd = served
    api = httpd.app.api
    seen: list[dict[str, Any]] = []
    submit = api._handlers["SubmitExecutionFunction"]

    def spy(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return submit(event, context)  # type: ignore[no-any-return]

    monkeypatch.setitem(api._handlers, "SubmitExecutionFunction", spy)
    answer = exchange(server, head(*post_head("X-Trace: first", "x-Mixed-Case: kept", "X-Trace: second")) + SEED)
    assert status_of(answer) == 202
    (event,) = seen
    assert event["headers"]["X-Trace"] == "second"
    assert event["multiValueHeaders"]["X-Trace"] == ["first", "second"]
    assert event["headers"]["x-Mixed-Case"] == "kept"
    assert set(event["multiValueHeaders"]) == {name.split(":")[0] for name in post_head()[1:]} | {
        "X-Trace",
        "x-Mixed-Case",
    }
    assert event["body"] == SEED.decode()


# ---------------------------------------------------------------------------------------------------
# Slow clients


SLOW_CLIENTS = 50


def test_slow_clients_do_not_keep_a_normal_request_from_being_answered(server: Server) -> None:
    # Given 50 connections that each send a request head one byte at a time (slowloris), often
    # enough that the read timeout never closes them
    port = port_of(server)
    slow = [socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()
    trickle = b"POST /api/execute HTTP/1.1\r\nHost: localhost\r\n" + b"X-Padding: " + b"a" * 10_000

    def drip() -> None:
        for byte in trickle:
            for connection in slow:
                connection.send(bytes([byte]))
            if stop.wait(0.2):
                return

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        time.sleep(0.5)  # the slow heads are well under way
        # When a normal client sends the seed request
        answer = exchange(server, head(*post_head()) + SEED)
        # Then it is answered (exchange raises if no answer comes within SOCKET_TIMEOUT)
        assert status_of(answer) == 202
        # And the slow clients were all still connected meanwhile: none was cut off to make room
        for connection in slow:
            connection.setblocking(False)
            with pytest.raises(BlockingIOError):
                connection.recv(1)  # nothing to read and not closed
    finally:
        stop.set()
        dripper.join(timeout=SOCKET_TIMEOUT)
        for connection in slow:
            connection.close()
