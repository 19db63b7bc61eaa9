"""What `make fuzz` (schemathesis) and `make load` found, kept as regression tests.

Each test names the request that broke a documented promise: no 5xx for a bad request (SPEC section 4),
problem+json for every error, 415 before anything in the body is read, and a failed request leaving
no execution behind (SPEC section 5).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from execution_api.aws_clients import dynamodb_client
from local.http_server import LocalHttpServer
from tests.conftest import Api, plan
from tests.support import SEED, Server, running_server

# ---------------------------------------------------------------------------------------------------
# The body's bytes are not UTF-8 (schemathesis sent random bytes as application/json)

NOT_UTF8 = [
    pytest.param(b"C\x04V\xc8\xd5\x92\xffK|Y\xe5~\xba\x1e\x9b", id="fuzzed-bytes"),
    pytest.param(b"\xff", id="one-byte"),
    pytest.param(b'{"executionPlan": {"jobs": [{"id": "caf\xe9", "operation": "merge"}]}}', id="latin-1-json"),
]


@pytest.mark.parametrize("raw", NOT_UTF8)
def test_a_body_that_is_not_utf8_is_malformed_json_not_a_500(api: Api, raw: bytes) -> None:
    # Given bytes that are not UTF-8, declared as JSON (the event carries them base64-encoded)
    # When they are submitted
    answer = api.submit(None, raw=raw)
    # Then it is the client's mistake, told as such
    assert answer.status == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "malformed_json"


def test_a_body_that_is_not_utf8_with_an_idempotency_key_is_malformed_json(api: Api) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": "not-utf8"}
    answer = api.submit(None, raw=b"\xff\xfe", headers=headers)
    assert answer.status == 400, answer.body
    assert answer.body["code"] == "malformed_json"


# ---------------------------------------------------------------------------------------------------
# multipart/form-data without a boundary (schemathesis: "undeclared request Content-Type")


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=", "Multipart/Form-Data"]
)
def test_multipart_without_a_boundary_is_415_not_a_500(api: Api, content_type: str) -> None:
    # Given a JSON body declared as multipart/form-data with no usable boundary
    body = b'{"executionPlan": {"baseExecutionId": "0", "jobs": [], "rootJobIds": []}, "options": null}'
    # When it is submitted
    answer = api.submit(None, raw=body, headers={"Content-Type": content_type})
    # Then it gets the 415 every other non-JSON media type gets (checked before anything in the body)
    assert answer.status == 415, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "unsupported_media_type"


# ---------------------------------------------------------------------------------------------------
# A write whose commit succeeded but whose answer was lost (make load against moto: 503 "nothing was
# stored" for executions that were stored, readable by id, and that no client ever got the id of)


def chain(n: int) -> dict[str, Any]:
    return plan(*({"id": f"j{i}", **({"dependsOn": [f"j{i - 1}"]} if i else {})} for i in range(n)))


def commit_then_fail(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """The first TransactWriteItems is applied, then its caller sees `error` (boto3's retries spent)."""
    client = dynamodb_client()
    real = client.transact_write_items
    calls = [0]

    def wrapper(**kwargs: Any) -> Any:
        calls[0] += 1
        result = real(**kwargs)
        if calls[0] == 1:
            raise error
        return result

    monkeypatch.setattr(client, "transact_write_items", wrapper)


LOST_ANSWERS = [
    # Every attempt timed out on the client side; the first one had committed.
    pytest.param(ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), id="timeout"),
    # What boto3's retry of that commit gets where the ClientRequestToken is not honoured (moto): the
    # items of the first attempt now exist.
    pytest.param(
        ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "ConditionalCheckFailed"}] * 6,
            },
            "TransactWriteItems",
        ),
        id="retry-after-commit",
    ),
]


@pytest.mark.parametrize("error", LOST_ANSWERS)
def test_a_commit_whose_answer_was_lost_is_either_accepted_or_leaves_nothing(
    api: Api, table: Any, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    # Given DynamoDB applies the transaction but the function never learns it did
    commit_then_fail(monkeypatch, error)
    # When a 5-job plan is submitted
    answer = api.submit(chain(5))
    stored = table.scan(ConsistentRead=True)["Items"]
    # Then either the client gets the id of what was stored, or nothing of the execution is left
    if answer.status == 202:
        assert {item["executionId"] for item in stored} == {answer.body["id"]}
        assert len(stored) == 6
    else:
        assert answer.status == 503, answer.body
        assert stored == [], f"a {answer.status} said nothing was stored, yet {len(stored)} items are"


# ---------------------------------------------------------------------------------------------------
# make run's HTTP server itself


@dataclass
class LocalServer:
    http: Server
    httpd: LocalHttpServer


@pytest.fixture(scope="module")
def local_server() -> Iterator[LocalServer]:
    with running_server() as (server, httpd):
        yield LocalServer(server, httpd)


ROUTES = [("/api/execute", "POST"), ("/api/execute/V1StGXR8_Z5jdHi6B-myT/status", "GET")]


@pytest.mark.http
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


@pytest.mark.http
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
