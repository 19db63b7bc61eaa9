"""Location and statusUrl resolve where the client called: the stage on the default
execute-api host, a custom domain's base path (which the resolver strips on the way in), nothing under
make run. Events from events/ and variations of them, through the real handlers."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.support import STATUS, SUBMIT, Api, event_file

SMOKE = json.dumps({"executionPlan": {"jobs": [], "rootJobIds": []}})


def submit_event(name: str, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(event_file(name))
    event["body"] = SMOKE
    event["headers"].update(changes.pop("headers", {}))
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["requestContext"]["authorizer"] = {"tenantId": "local"}
    event.update(changes)
    return event


def status_event(name: str, location: str) -> dict[str, Any]:
    """The status event of events/<name> for the path a client follows from Location."""
    event = copy.deepcopy(event_file(name))
    execution_id = location.rsplit("/", 2)[-2]
    context = event["requestContext"]
    stage_prefix = f"/{context['stage']}"
    on_default_host = context["domainName"].endswith(".amazonaws.com")
    # On the default host API Gateway strips the stage from `path`; a custom domain's base path stays in it.
    event["path"] = location.removeprefix(stage_prefix) if on_default_host else location
    context["path"] = location
    event["pathParameters"] = {"id": execution_id}
    context["authorizer"] = {"tenantId": "local"}
    return event


def test_on_the_default_host_links_carry_the_stage(api: Api) -> None:
    accepted = api.call(SUBMIT, submit_event("submit-canonical.json"))
    assert accepted.status == 202
    location = accepted.headers["Location"]
    assert location == f"/dev/api/execute/{accepted.body['id']}/status"
    assert accepted.body["statusUrl"] == location
    # Following it: https://<id>.execute-api.<region>.amazonaws.com/dev/api/execute/<id>/status
    status = api.call(STATUS, status_event("get-status.json", location))
    assert status.status == 200
    assert status.body["id"] == accepted.body["id"]


def test_behind_a_custom_domain_links_carry_its_base_path_and_it_is_stripped_on_the_way_in(api: Api) -> None:
    accepted = api.call(SUBMIT, submit_event("submit-custom-domain.json"))
    assert accepted.status == 202
    location = accepted.headers["Location"]
    assert location == f"/v1/api/execute/{accepted.body['id']}/status"
    assert accepted.body["statusUrl"] == location
    # Following it: https://api.example.com/v1/api/execute/<id>/status, whose path keeps /v1
    status = api.call(STATUS, status_event("get-status-custom-domain.json", location))
    assert status.status == 200
    assert status.body["id"] == accepted.body["id"]


def test_a_base_path_that_looks_like_a_route_is_still_only_a_prefix(api: Api) -> None:
    event = submit_event("submit-custom-domain.json", path="/api/v2/api/execute")
    event["requestContext"]["path"] = "/api/v2/api/execute"
    accepted = api.call(SUBMIT, event)
    assert accepted.status == 202
    assert accepted.headers["Location"] == f"/api/v2/api/execute/{accepted.body['id']}/status"


def test_a_custom_domain_without_base_path_links_to_the_root(api: Api) -> None:
    event = submit_event("submit-custom-domain.json", path="/api/execute")
    event["requestContext"]["path"] = "/api/execute"
    accepted = api.call(SUBMIT, event)
    assert accepted.headers["Location"] == f"/api/execute/{accepted.body['id']}/status"


def test_under_make_run_links_have_no_prefix(api: Api) -> None:
    accepted = api.submit(json.loads(SMOKE))
    assert accepted.headers["Location"] == f"/api/execute/{accepted.body['id']}/status"


def test_a_replay_links_to_where_the_retry_came_in(api: Api) -> None:
    key = {"Idempotency-Key": "same-submission-1"}
    first = api.call(SUBMIT, submit_event("submit-canonical.json", headers=key))
    again = api.call(SUBMIT, submit_event("submit-custom-domain.json", headers=key))
    assert again.status == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.body["id"] == first.body["id"]
    assert first.headers["Location"].startswith("/dev/api/")
    assert again.headers["Location"] == f"/v1/api/execute/{first.body['id']}/status"


def test_routing_problems_behind_a_base_path_are_the_usual_ones(api: Api) -> None:
    wrong_method = api.call(SUBMIT, submit_event("submit-custom-domain.json", httpMethod="PUT"))
    assert wrong_method.status == 405
    assert wrong_method.headers["Allow"] == "POST"
    missing = api.call(
        STATUS, status_event("get-status-custom-domain.json", "/v1/api/execute/V1StGXR8_Z5jdHi6B-myT/status")
    )
    assert missing.status == 404
    assert missing.body["code"] == "execution_not_found"  # routed, then not found: not route_not_found
