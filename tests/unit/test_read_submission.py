"""What the submit route runs on a body: the collector is paused only while it runs, and the job and
params type errors keep the wording they had when a job was a pydantic model."""

from __future__ import annotations

import contextlib
import gc
import json

import pytest

from execution_api.errors import MalformedRequest, PlanRejected
from execution_api.plan_checks import PlanLimits
from execution_api.validation import read_submission

VALID = json.dumps({"executionPlan": {"jobs": [{"id": "a", "operation": "generateVideo"}]}})


@pytest.mark.parametrize("body", [VALID, '{"executionPlan": {"jobs": [1]}}', "{not json"])
def test_the_collector_runs_again_after_any_body(body: str) -> None:
    assert gc.isenabled()
    with contextlib.suppress(PlanRejected, MalformedRequest):
        read_submission(body, False, PlanLimits())
    assert gc.isenabled()


def test_a_collector_paused_by_the_caller_stays_paused() -> None:
    gc.disable()
    try:
        read_submission(VALID, False, PlanLimits())
        assert not gc.isenabled()
    finally:
        gc.enable()


def messages(jobs: list[object]) -> list[tuple[str, str, str]]:
    with pytest.raises(PlanRejected) as rejected:
        read_submission(json.dumps({"executionPlan": {"jobs": jobs}}), False, PlanLimits())
    return [(v.pointer, v.code, v.message) for v in rejected.value.violations]


def test_a_job_that_is_not_an_object_and_params_that_are_not_one_keep_their_messages() -> None:
    assert messages(["x"]) == [
        (
            "/executionPlan/jobs/0",
            "invalid_type",
            "'jobs': " + "Input should be a valid dictionary or instance of JobRequest",
        )
    ]
    assert messages([{"id": "a", "operation": "o", "params": [1]}]) == [
        ("/executionPlan/jobs/0/params", "invalid_type", "'params': Input should be a valid dictionary")
    ]
