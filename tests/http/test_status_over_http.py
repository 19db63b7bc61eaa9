"""The status route over HTTP through `make run`'s server (the status function routes itself, without
Powertools' resolver): 200 with an ETag, 304 for it, 405 for another method, 404 for an unknown id, and
CORS for a configured origin, each as a client sees it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import SEED, Server, forget_cached_configuration, running_server

pytestmark = pytest.mark.http

ORIGIN = "https://app.example.com"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as (server, _):
        yield server


@pytest.fixture
def cors_origin(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """CORS_ALLOW_ORIGINS for the functions the server runs in this process, for one test."""
    monkeypatch.setitem(os.environ, "CORS_ALLOW_ORIGINS", ORIGIN)
    forget_cached_configuration()
    yield ORIGIN
    monkeypatch.undo()
    forget_cached_configuration()


def test_a_poll_gets_the_status_then_304_for_its_etag(server: Server) -> None:
    accepted = server.post(SEED)
    assert accepted.status == 202
    first = server.request("GET", accepted.headers["Location"])
    assert first.status == 200
    assert first.headers["Content-Type"] == "application/json"
    assert first.body["id"] == accepted.body["id"]
    again = server.request("GET", accepted.headers["Location"], headers={"If-None-Match": first.headers["ETag"]})
    assert (again.status, again.raw, again.headers["ETag"]) == (304, b"", first.headers["ETag"])


def test_another_method_is_405_and_an_unknown_id_404_both_problems(server: Server) -> None:
    path = "/api/execute/V1StGXR8_Z5jdHi6B-myT/status"
    refused, missing = server.request("DELETE", path), server.request("GET", path)
    assert (refused.status, refused.headers["Allow"], refused.body["code"]) == (405, "GET", "method_not_allowed")
    assert (missing.status, missing.body["code"]) == (404, "execution_not_found")
    for answer in (refused, missing):
        assert answer.headers["Content-Type"] == "application/problem+json"


def test_an_allowed_origin_gets_its_preflight_and_cors_headers(server: Server, cors_origin: str) -> None:
    accepted = server.post(SEED)
    preflight = server.request(
        "OPTIONS", accepted.headers["Location"], headers={"Origin": cors_origin, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    read = server.request("GET", accepted.headers["Location"], headers={"Origin": cors_origin})
    assert read.status == 200
    assert read.headers["Access-Control-Allow-Origin"] == cors_origin
    assert "ETag" in read.headers["Access-Control-Expose-Headers"]
