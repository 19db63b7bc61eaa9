"""What the published SDK sends, over real HTTP against `make run` with authentication and CORS on:
its flat webhook form and credentials are accepted, its 422s read in words, a browser's preflight
passes without an API key for an allowed origin only."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from local.stack import forget_cached_configuration
from tests.support import Answer, Server, all_items, running_server

pytestmark = pytest.mark.http

KEY = "sdk-http-key-123"
ORIGIN = "https://app.example.com"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server(api_key=KEY) as (server, _):
        os.environ["CORS_ALLOW_ORIGINS"] = ORIGIN  # as `CORS_ALLOW_ORIGINS=... make run` would set it
        forget_cached_configuration()
        yield server


def submit(server: Server, body: object, **headers: str) -> Answer:
    return server.request("POST", "/api/execute", json.dumps(body).encode(), {**AUTH, **headers})


JOBS = [
    {"id": "job2", "type": "generate", "params": {"provider": "replicate", "apiKey": "r8_http_param_key"}},
    {"id": "job1", "type": "merge", "params": {"items": [{"url": "_videoJobDependency:job2"}]}, "dependsOn": ["job2"]},
]


def test_the_sdks_execute_from_plan_body_is_accepted_and_keeps_no_key_in_clear(server: Server) -> None:
    body = {
        "executionPlan": {"jobs": JOBS},
        "options": {
            "webhook": "https://example.com/hook",
            "webhookSecret": "http-shh",
            "providerApiKeys": {"replicate": "r8_http_provider_key"},
        },
    }
    reply = submit(server, body)
    assert reply.status == 202, reply.body
    status = server.request("GET", reply.headers["Location"], headers=AUTH)
    assert status.body["status"] == "pending"
    assert [job["status"] for job in status.body["jobs"]] == ["pending", "pending"]
    dump = json.dumps(all_items(server.dynamodb(), server.stack.names["ExecutionsTable"]), default=str)
    for secret in ("r8_http_param_key", "r8_http_provider_key", "http-shh"):
        assert secret not in dump
        assert secret not in status.raw.decode()


def test_a_422_says_what_is_wrong_in_error(server: Server) -> None:
    reply = submit(server, {"executionPlan": {"jobs": [{"id": "a", "type": "merge", "dependsOn": ["x"]}]}})
    assert reply.status == 422
    assert reply.body["error"] == "job 'a' depends on 'x', which is not in the plan"


def test_an_allowed_origins_preflight_needs_no_api_key(server: Server) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    reply = server.request("OPTIONS", "/api/execute", headers=headers)
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == ORIGIN
    accepted = submit(server, {"executionPlan": {"jobs": []}}, Origin=ORIGIN)
    assert accepted.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_another_origins_preflight_gets_no_cors_headers(server: Server) -> None:
    reply = server.request("OPTIONS", "/api/execute", headers={"Origin": "https://evil.example.com"})
    assert not any(name.lower().startswith("access-control-") for name in reply.headers)
    assert reply.status == 405
