"""The provider routes over real HTTP against `make run` with authentication on: the tenant's keys need the
API key; the callback route needs none (the provider's signature instead) and refuses what it cannot verify."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support import Server, running_server

pytestmark = pytest.mark.http

KEY = "providers-http-key-123"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server(api_key=KEY) as (server, _):
        yield server


def test_provider_keys_need_the_api_key_and_show_only_the_last_four(server: Server) -> None:
    body = json.dumps({"apiKey": "fal-id:0123456789abcdefLAST"}).encode()
    assert server.request("PUT", "/api/provider-keys/fal", body, {"Content-Type": "application/json"}).status == 401
    stored = server.request("PUT", "/api/provider-keys/fal", body, AUTH)
    assert stored.status == 200
    assert stored.body["last4"] == "LAST"
    shown = server.request("GET", "/api/provider-keys/fal", headers=AUTH)
    assert shown.body["last4"] == "LAST"
    assert b"0123456789abcdef" not in shown.raw
    assert server.request("DELETE", "/api/provider-keys/fal", headers=AUTH).status == 204


def test_the_callback_route_takes_no_api_key_and_refuses_an_unverified_call(server: Server) -> None:
    answer = server.request(
        "POST", "/api/providers/replicate/callbacks/" + "r" * 43, b'{"id": "x"}', {"Content-Type": "application/json"}
    )
    assert answer.status == 401
    assert answer.body["detail"] == "the callback's signature does not verify"  # our handler's, not the authorizer's
