"""Every file in events/ through `make invoke`'s code path (local.invoke), as `sam local invoke` would run it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import invoke, ministack
from local.stack import forget_cached_configuration
from local.template import ROOT
from tests.support import TEST_BACKEND

EXPECTED_STATUS: dict[str, int | None] = {
    "submit-smoke.json": 202,
    "submit-canonical.json": 202,
    "submit-sdk.json": 202,
    "submit-sdk-flat-webhook.json": 202,  # executeFromPlan(plan, {webhook, webhookSecret})
    "submit-sdk-provider-keys.json": 202,  # options.providerApiKeys, sent whenever a provider key is set
    "submit-sdk-param-api-key.json": 202,  # videoModel(..., {apiKey}): the key inside params, sealed
    "submit-invalid-plan.json": 422,
    "get-status.json": 404,  # a fresh moto holds no execution with the example id
    "submit-custom-domain.json": 202,  # behind a custom domain with base path /v1
    "get-status-custom-domain.json": 404,
    "authorizer-token.json": None,  # the authorizer refuses a key a fresh moto does not hold
}


@pytest.fixture
def isolated_environment(request: pytest.FixtureRequest) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    if TEST_BACKEND == "ministack":  # make invoke against a running endpoint, here an emptied ministack
        endpoint = request.getfixturevalue("ministack_endpoint")
        ministack.reset(endpoint)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    yield
    os.environ.clear()
    os.environ.update(saved)
    forget_cached_configuration()


def run_invoke(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert invoke.main([str(path), *args]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)  # the response alone is on stdout
    return result


def test_every_event_file_is_covered() -> None:
    assert {p.name for p in (ROOT / "events").glob("*.json")} == set(EXPECTED_STATUS)


@pytest.mark.usefixtures("isolated_environment")
@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_each_event_runs_through_its_function(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    if EXPECTED_STATUS[name] is None:
        result = run_invoke(ROOT / "events" / name, capsys, "--function", "AuthorizerFunction")
        assert result == {"errorMessage": "Unauthorized", "errorType": "PermissionError"}
        return
    result = run_invoke(ROOT / "events" / name, capsys)
    assert result["statusCode"] == EXPECTED_STATUS[name]
    body = json.loads(result["body"])
    if result["statusCode"] == 202:
        # Where the event came in: the stage on the execute-api host, the base path on a custom domain.
        prefix = "/v1" if "custom-domain" in name else "/dev"
        assert result["multiValueHeaders"]["Location"] == [f"{prefix}/api/execute/{body['id']}/status"]
        assert body["statusUrl"] == f"{prefix}/api/execute/{body['id']}/status"
    else:
        assert result["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]


@pytest.mark.usefixtures("isolated_environment")
def test_the_invalid_event_reports_each_problem(capsys: pytest.CaptureFixture[str]) -> None:
    body = json.loads(run_invoke(ROOT / "events" / "submit-invalid-plan.json", capsys)["body"])
    assert {e["code"] for e in body["errors"]} == {
        "unknown_field",
        "undeclared_dependency_reference",
        "dependency_cycle",
        "root_jobs_mismatch",
    }


@pytest.mark.usefixtures("isolated_environment")
def test_function_can_be_named(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_invoke(ROOT / "events" / "submit-smoke.json", capsys, "--function", "SubmitExecutionFunction")
    assert result["statusCode"] == 202


@pytest.mark.usefixtures("isolated_environment")
def test_settings_from_the_shell_win_over_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    # Given MAX_JOBS=1 in the developer's shell (the template says 500)
    os.environ["MAX_JOBS"] = "1"
    # When the two-job canonical request is invoked
    result = run_invoke(ROOT / "events" / "submit-canonical.json", capsys)
    # Then the shell's limit applies
    assert result["statusCode"] == 422
    assert [e["code"] for e in json.loads(result["body"])["errors"]] == ["too_many_jobs"]
