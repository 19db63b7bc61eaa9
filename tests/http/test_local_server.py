"""`make run`'s server over real HTTP: the template's routes on loopback, backed by an embedded moto
(or ministack, under TEST_BACKEND=ministack)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import SEED, Server, all_items, running_server

pytestmark = pytest.mark.http

SDK = (
    b'{"executionPlan":{"jobs":[{"id":"job2","type":"generate","params":{"provider":"replicate",'
    b'"modelId":"bytedance/seedance-1-pro","prompt":"Scene 1"},"output":"$job2"},{"id":"job1","type":"merge",'
    b'"params":{"items":[{"url":"_videoJobDependency:job2","type":"video"}]},"dependsOn":["job2"],"output":"$job1"}]},'
    b'"options":{"webhook":{"url":"https://example.com/hook","secret":"shh"}}}'
)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as (server, _):
        yield server


def test_the_seed_curl_works_as_written(server: Server) -> None:
    reply = server.post(SEED)
    assert reply.status == 202
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Location"] == f"/api/execute/{reply.body['id']}/status"
    assert reply.body["status"] == "pending"


def test_the_sdk_request_then_its_status(server: Server) -> None:
    accepted = server.post(SDK, Authorization="Bearer sk_test")
    assert accepted.status == 202
    status = server.request("GET", accepted.headers["Location"])
    assert status.status == 200
    assert status.body["executionId"] == accepted.body["id"]
    assert [j["id"] for j in status.body["jobs"]] == ["job2", "job1"]
    assert status.body["webhook"] == {
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
    assert reply.body["errors"][0]["code"] == "dependency_cycle"


def test_broken_json_is_400(server: Server) -> None:
    reply = server.post(b'{"executionPlan": ')
    assert (reply.status, reply.body["code"]) == (400, "malformed_json")


def test_wrong_method_is_405(server: Server) -> None:
    reply = server.request("DELETE", "/api/execute")
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"


def test_an_unknown_route_gets_the_templates_gateway_response(server: Server) -> None:
    reply = server.request("GET", "/api/nope")
    assert reply.status == 404
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.body["code"] == "route_not_found"
    assert reply.body["instance"]
    assert "$context" not in reply.body["instance"]


def test_openapi_and_swagger_ui_are_served(server: Server) -> None:
    spec = server.request("GET", "/api/openapi.json")
    assert spec.status == 200
    assert set(spec.body["paths"]) == {
        "/api/execute",
        "/api/execute/{id}/status",
        "/api/execute/{id}/cancel",
        "/api/provider-keys/{provider}",
        "/api/providers/{provider}/callbacks/{ref}",
    }
    docs = server.request("GET", "/api/docs")
    assert docs.status == 200
    assert b"SwaggerUIBundle" in docs.raw


def test_the_tables_are_visible_on_the_backend_endpoint(server: Server) -> None:
    execution_id = server.post(SEED).body["id"]
    client = server.dynamodb()
    items = all_items(client, server.stack.names["ExecutionsTable"])
    assert any(i["executionId"]["S"] == execution_id for i in items)


def test_concurrent_clients_each_get_their_own_execution(server: Server) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: server.post(SEED), range(24)))
    assert [r.status for r in replies] == [202] * 24
    ids = {r.body["id"] for r in replies}
    assert len(ids) == 24
    for execution_id in list(ids)[:5]:
        assert server.request("GET", f"/api/execute/{execution_id}/status").status == 200


def test_a_scan_of_the_local_tables_never_shows_a_webhook_secret(server: Server) -> None:
    # Given a submission with a webhook secret, sent twice with one Idempotency-Key
    body = SDK.replace(b'"secret":"shh"', b'"secret":"very-private-webhook-secret"')
    first = server.post(body, **{"Idempotency-Key": "scan-check"})
    again = server.post(body, **{"idempotency-key": "scan-check"})
    assert first.status == again.status == 202
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    # When every local table is scanned through the backend endpoint, as a developer would
    client = server.dynamodb()
    dump = repr([all_items(client, table) for table in server.stack.table_names()])
    # Then the secret is nowhere, while the execution is there
    assert first.body["id"] in dump
    assert "very-private-webhook-secret" not in dump
