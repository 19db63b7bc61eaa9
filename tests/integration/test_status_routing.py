"""The status function routes its one route itself (execution_api.api.rest, no Powertools resolver): the
route behind a custom domain's base path, 404 and 405 as problem+json, CORS for the configured origins
(preflight without an API key, headers on answers and problems), and a 500 that tells the client nothing
but the request id. Through the handler, with API Gateway's REST events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.events import rest_api_event
from tests.support import STATUS, Answer, Api, plan

ORIGIN = "https://app.example.com"
STATUS_RESOURCE = "/api/execute/{id}/status"


def get(api: Api, path: str, method: str = "GET", headers: dict[str, str] | None = None, **event: Any) -> Answer:
    event.setdefault("tenant_id", "local")
    return api.call(STATUS, rest_api_event(method, path, resource=STATUS_RESOURCE, headers=headers, **event))


def test_the_route_answers_behind_a_base_path_and_with_a_trailing_slash(api: Api) -> None:
    execution_id = api.submit(plan({"id": "a"})).body["id"]
    plain = get(api, f"/api/execute/{execution_id}/status")
    assert plain.status == 200
    assert plain.headers["Content-Type"] == "application/json"
    for path in (f"/v1/api/execute/{execution_id}/status", f"/api/execute/{execution_id}/status/"):
        answer = get(api, path)
        assert (answer.status, answer.body, answer.headers["ETag"]) == (200, plain.body, plain.headers["ETag"])


@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/execute/a/b/status", "/api/execute//status", "/"])
def test_another_path_is_a_404_route_problem(api: Api, path: str) -> None:
    answer = get(api, path, request_id="req-404")
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert (answer.body["code"], answer.body["instance"]) == ("route_not_found", "req-404")


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PATCH"])
def test_another_method_is_a_405_with_allow_even_without_an_origin(api: Api, method: str) -> None:
    answer = get(api, "/api/execute/V1StGXR8_Z5jdHi6B-myT/status", method=method)
    assert answer.status == 405
    assert answer.headers["Allow"] == "GET"
    assert answer.body["code"] == "method_not_allowed"


def test_without_the_authorizers_tenant_the_route_is_a_401_problem(api: Api) -> None:
    answer = get(api, "/api/execute/V1StGXR8_Z5jdHi6B-myT/status", tenant_id=None)
    assert answer.status == 401
    assert answer.body["code"] == "unauthorized"


def test_an_allowed_origins_preflight_is_answered_without_a_tenant(api: Api, configure: Any) -> None:
    configure("CORS_ALLOW_ORIGINS", ORIGIN)
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    answer = get(api, "/api/execute/V1StGXR8_Z5jdHi6B-myT/status", method="OPTIONS", headers=headers, tenant_id=None)
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert answer.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    assert "if-none-match" in answer.headers["Access-Control-Allow-Headers"].lower().split(",")
    # A preflight of a path that is no route is not answered as one
    elsewhere = get(api, "/api/nothing-here", method="OPTIONS", headers=headers, tenant_id=None)
    assert elsewhere.status == 404
    assert elsewhere.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_answers_and_problems_carry_cors_for_an_allowed_origin_only(api: Api, configure: Any) -> None:
    configure("CORS_ALLOW_ORIGINS", ORIGIN)
    execution_id = api.submit(plan({"id": "a"})).body["id"]
    found = get(api, f"/api/execute/{execution_id}/status", headers={"Origin": ORIGIN})
    missing = get(api, "/api/execute/V1StGXR8_Z5jdHi6B-myT/status", headers={"Origin": ORIGIN})
    assert (found.status, missing.status) == (200, 404)
    for answer in (found, missing):
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "ETag" in answer.headers["Access-Control-Expose-Headers"]
        assert answer.headers["Vary"] == "Origin"
    other = get(api, f"/api/execute/{execution_id}/status", headers={"Origin": "https://evil.example.com"})
    assert other.status == 200
    assert not any(name.lower().startswith("access-control-") for name in other.headers)


def test_an_unexpected_error_is_a_500_with_the_request_id_only(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from execution_api.api.status import StatusService

    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("internal detail: pk TENANT#local")

    monkeypatch.setattr(StatusService, "status", broken)
    answer = get(api, "/api/execute/V1StGXR8_Z5jdHi6B-myT/status", request_id="req-500")
    assert answer.status == 500
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "internal_error"
    assert answer.body["instance"] == "req-500"
    assert "internal detail" not in json.dumps(answer.body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=st.text(alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1))
def test_any_id_segment_is_a_404_problem_never_a_500(api: Api, segment: str) -> None:
    # An id that cannot be an execution's (or names none) is the client's 404, whatever its characters
    answer = get(api, f"/api/execute/{segment}/status")
    assert answer.status == 404, answer.body
    assert answer.body["code"] == "execution_not_found"
