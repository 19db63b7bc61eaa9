"""`make run`'s server over real HTTP: the template's routes on loopback, backed by an embedded moto
(or ministack, under TEST_BACKEND=ministack)."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.http_server import READ_TIMEOUT, LocalHttpServer
from local.server import serve
from local.stack import LocalDeployment, forget_cached_configuration
from tests.conftest import TEST_BACKEND

pytestmark = pytest.mark.http

SEED = b'{"executionPlan":{"jobs":[],"rootJobIds":[]}}'
SDK = (
    b'{"executionPlan":{"jobs":[{"id":"job2","type":"generate","params":{"provider":"replicate",'
    b'"modelId":"bytedance/seedance-1-pro","prompt":"Scene 1"},"output":"$job2"},{"id":"job1","type":"merge",'
    b'"params":{"items":[{"url":"_videoJobDependency:job2","type":"video"}]},"dependsOn":["job2"],"output":"$job1"}]},'
    b'"options":{"webhook":{"url":"https://example.com/hook","secret":"shh"}}}'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Server:
    url: str
    backend_url: str
    stack: LocalDeployment

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                return Reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read())

    def dynamodb(self) -> Any:
        """A client for the backend's endpoint, as a developer would point the AWS CLI at it."""
        return boto3.client(
            "dynamodb",
            endpoint_url=self.backend_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )

    def post(self, body: bytes, **headers: str) -> Reply:
        return self.request("POST", "/api/execute", body, {"Content-Type": "application/json", **headers})


@contextmanager
def running_server(
    api_key: str | None = None, read_timeout: int = READ_TIMEOUT
) -> Iterator[tuple[Server, LocalHttpServer]]:
    """`make run`'s server and its backend on free ports; the process environment is restored after."""
    saved = dict(os.environ)
    port, backend_port = free_port(), free_port()
    httpd, backend, stack = serve(port, backend_port, api_key=api_key, backend=TEST_BACKEND, read_timeout=read_timeout)
    try:
        yield Server(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{backend_port}", stack), httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        backend.stop()
        os.environ.clear()
        os.environ.update(saved)
        forget_cached_configuration()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as (server, _):
        yield server


def test_the_seed_curl_works_as_written(server: Server) -> None:
    reply = server.post(SEED)
    assert reply.status == 202
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Location"] == f"/api/execute/{reply.json['id']}/status"
    assert reply.json["status"] == "pending"


def test_the_sdk_request_then_its_status(server: Server) -> None:
    accepted = server.post(SDK, Authorization="Bearer sk_test")
    assert accepted.status == 202
    status = server.request("GET", accepted.headers["Location"])
    assert status.status == 200
    assert status.json["executionId"] == accepted.json["id"]
    assert [j["id"] for j in status.json["jobs"]] == ["job2", "job1"]
    assert status.json["webhook"] == {
        "url": "https://example.com/hook",
        "deliveredAt": None,
        "attempts": 0,
        "lastStatus": None,
    }
    assert b"shh" not in status.raw


def test_a_cycle_is_a_422_problem(server: Server) -> None:
    body = (
        b'{"executionPlan":{"jobs":[{"id":"a","operation":"merge","dependsOn":["b"]},'
        b'{"id":"b","operation":"merge","dependsOn":["a"]}]}}'
    )
    reply = server.post(body)
    assert reply.status == 422
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json["errors"][0]["code"] == "dependency_cycle"


def test_broken_json_is_400(server: Server) -> None:
    reply = server.post(b'{"executionPlan": ')
    assert (reply.status, reply.json["code"]) == (400, "malformed_json")


def test_wrong_method_is_405(server: Server) -> None:
    reply = server.request("DELETE", "/api/execute")
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"


def test_an_unknown_route_gets_the_templates_gateway_response(server: Server) -> None:
    reply = server.request("GET", "/api/nope")
    assert reply.status == 404
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json["code"] == "route_not_found"
    assert reply.json["instance"]
    assert "$context" not in reply.json["instance"]


def test_openapi_and_swagger_ui_are_served(server: Server) -> None:
    spec = server.request("GET", "/api/openapi.json")
    assert spec.status == 200
    assert set(spec.json["paths"]) == {"/api/execute", "/api/execute/{id}/status", "/api/execute/{id}/cancel"}
    docs = server.request("GET", "/api/docs")
    assert docs.status == 200
    assert b"SwaggerUIBundle" in docs.raw


def test_the_tables_are_visible_on_the_backend_endpoint(server: Server) -> None:
    execution_id = server.post(SEED).json["id"]
    client = server.dynamodb()
    items = client.scan(TableName=server.stack.names["ExecutionsTable"])["Items"]
    assert any(i["executionId"]["S"] == execution_id for i in items)


def test_concurrent_clients_each_get_their_own_execution(server: Server) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: server.post(SEED), range(24)))
    assert [r.status for r in replies] == [202] * 24
    ids = {r.json["id"] for r in replies}
    assert len(ids) == 24
    for execution_id in list(ids)[:5]:
        assert server.request("GET", f"/api/execute/{execution_id}/status").status == 200


def test_a_scan_of_the_local_tables_never_shows_a_webhook_secret(server: Server) -> None:
    # Given a submission with a webhook secret, sent twice with one Idempotency-Key
    body = SDK.replace(b'"secret":"shh"', b'"secret":"very-private-webhook-secret"')
    first = server.post(body, **{"Idempotency-Key": "scan-check"})
    again = server.post(body, **{"idempotency-key": "scan-check"})
    assert first.status == again.status == 202
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    # When every local table is scanned through the backend endpoint, as a developer would
    client = server.dynamodb()
    dump = repr([client.scan(TableName=table)["Items"] for table in server.stack.table_names()])
    # Then the secret is nowhere, while the execution is there
    assert first.json["id"] in dump
    assert "very-private-webhook-secret" not in dump
