"""`make run` with LOCAL_API_KEY: the template's authorizer in front of every route, keys from `make api-key`."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest

from tests.support import SEED, Server, running_server
from tools import api_keys

pytestmark = pytest.mark.http

LOCAL_KEY = "local-dev-key-123"


def local_target() -> list[str]:
    """make run's backend, named explicitly (make api-key never follows AWS_ENDPOINT_URL on its own)."""
    return ["--local", "--endpoint", os.environ["AWS_ENDPOINT_URL"]]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server(api_key=LOCAL_KEY) as (server, _):
        yield server


def make_key(tenant: str, capsys: pytest.CaptureFixture[str]) -> str:
    """`make api-key TENANT=... LOCAL=1 ENDPOINT=...` against the server's moto (serve sets AWS_ENDPOINT_URL)."""
    assert api_keys.main([*local_target(), "create", "--tenant", tenant]) == 0
    output = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"exk_[A-Za-z0-9_-]{43}", output[-1]), "the key, alone, on the last line"
    return output[-1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic bG9jYWw6a2V5"}, {"Authorization": "Bearer"}],
    ids=["missing", "unknown key", "basic scheme", "no key"],
)
def test_without_a_valid_key_the_seed_curl_gets_a_clear_401(server: Server, headers: dict[str, str]) -> None:
    reply = server.post(SEED, **headers)
    assert reply.status == 401
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert reply.body["code"] == "unauthorized"
    assert reply.body["error"] == reply.body["detail"]


def test_the_status_route_needs_a_key_too(server: Server) -> None:
    assert server.request("GET", "/api/execute/V1StGXR8_Z5jdHi6B-myT/status").status == 401


def test_with_the_local_key_it_is_accepted_for_tenant_local(server: Server) -> None:
    reply = server.post(SEED, **bearer(LOCAL_KEY))
    assert reply.status == 202
    status = server.request("GET", reply.headers["Location"], headers=bearer(LOCAL_KEY))
    assert status.status == 200


def test_a_second_tenant_cannot_read_the_first_tenants_execution(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    globex = make_key("globex", capsys)
    mine = server.post(SEED, **bearer(LOCAL_KEY)).body["id"]
    assert server.request("GET", f"/api/execute/{mine}/status", headers=bearer(globex)).status == 404
    theirs = server.post(SEED, **bearer(globex)).body["id"]
    assert server.request("GET", f"/api/execute/{theirs}/status", headers=bearer(globex)).status == 200
    assert server.request("GET", f"/api/execute/{theirs}/status", headers=bearer(LOCAL_KEY)).status == 404


def test_nor_build_on_it_nor_replay_its_idempotency_key(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    initech = make_key("initech", capsys)
    mine = server.post(SEED, **bearer(LOCAL_KEY), **{"Idempotency-Key": "same-key"})
    theirs = server.post(SEED, **bearer(initech), **{"Idempotency-Key": "same-key"})
    assert theirs.status == 202
    assert theirs.body["id"] != mine.body["id"]
    assert "Idempotent-Replayed" not in theirs.headers
    body = json.dumps({"executionPlan": {"jobs": []}, "options": {"baseExecutionId": mine.body["id"]}}).encode()
    assert server.post(body, **bearer(initech)).body["errors"][0]["code"] == "base_execution_not_found"


def test_a_revoked_key_stops_working(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    key = make_key("umbrella", capsys)
    assert server.post(SEED, **bearer(key)).status == 202
    assert api_keys.main([*local_target(), "revoke", "--key", key]) == 0
    assert "Revoked" in capsys.readouterr().out
    assert server.post(SEED, **bearer(key)).status == 401
    assert api_keys.main([*local_target(), "revoke", "--key", "exk_no-such-key"]) == 1


def test_the_key_command_refuses_a_bad_tenant(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert api_keys.main([*local_target(), "create", "--tenant", "bad tenant"]) == 2
    assert "tenant id" in capsys.readouterr().err
