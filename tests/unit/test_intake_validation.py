"""What the submit route runs on a body (read_submission): a plan over MAX_JOBS is refused with one problem
before any job is looked at; aliases given as null count as not given; type errors keep their wording."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution_api.core.errors import PlanRejected
from execution_api.intake.rules import PlanLimits
from execution_api.intake.validation import read_submission
from execution_api.models.plan import PlannedJob

LIMITS = PlanLimits(max_jobs=3)


def problems(body: Any, limits: PlanLimits = LIMITS) -> list[tuple[str, str, str]]:
    with pytest.raises(PlanRejected) as rejected:
        read_submission(json.dumps(body), False, limits)
    return [(v.pointer, v.code, v.message) for v in rejected.value.violations]


# ---- more jobs than MAX_JOBS

TOO_MANY = ("/executionPlan/jobs", "too_many_jobs", "a plan has at most 3 jobs, this one 4")
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(anything, min_size=4, max_size=8),
    st.dictionaries(st.sampled_from(["rootJobIds", "typo", "baseExecutionId"]), anything),
    st.dictionaries(st.sampled_from(["options", "extra"]), anything),
)
def test_property_a_plan_over_the_limit_gets_that_one_problem_whatever_else_it_holds(
    jobs: list[Any], plan_fields: dict[str, Any], body_fields: dict[str, Any]
) -> None:
    # Given more jobs than the limit, of any shape, beside any other fields
    body = {"executionPlan": {"jobs": jobs, **plan_fields}, **body_fields}
    # When / Then: no job, field or option is checked: the answer is the count alone
    assert problems(body) == [(*TOO_MANY[:2], f"a plan has at most 3 jobs, this one {len(jobs)}")]


def test_a_plan_of_exactly_the_limit_is_checked_job_by_job() -> None:
    # Given three jobs (the limit), each with a problem
    body = {"executionPlan": {"jobs": [{"id": "#", "operation": "generate"}] * 3}}
    # When / Then: every problem is listed, and no too_many_jobs
    assert [code for _, code, _ in problems(body)] == ["invalid_job_id"] * 3 + ["duplicate_job_id"] * 2


def test_one_job_over_the_limit_is_refused_with_the_count() -> None:
    assert problems({"executionPlan": {"jobs": [{"id": f"j{i}", "operation": "generate"} for i in range(4)]}}) == [
        TOO_MANY
    ]


# ---- the SDK's aliases: null counts as not given


@pytest.mark.parametrize(
    ("job", "operation", "operation_field", "depends_on", "depends_on_field"),
    [
        ({"operation": None, "type": "merge"}, "merge", "type", (), "dependsOn"),
        ({"type": "merge", "dependsOn": None}, "merge", "type", (), "dependsOn"),
        ({"type": "merge", "dependsOn": None, "dependencies": ["a"]}, "merge", "type", ("a",), "dependencies"),
        ({"type": "merge", "dependencies": None, "dependsOn": ["a"]}, "merge", "type", ("a",), "dependsOn"),
    ],
    ids=["operation-null", "dependsOn-null", "dependsOn-null-beside-dependencies", "dependencies-null"],
)
def test_an_alias_given_as_null_counts_as_not_given(
    job: dict[str, Any], operation: str, operation_field: str, depends_on: tuple[str, ...], depends_on_field: str
) -> None:
    # Given a job that gives one name of a field as null and the other with a value (or none at all)
    body = {"executionPlan": {"jobs": [{"id": "a", "operation": "merge"}, {"id": "b", **job}]}}
    # When
    _, plan = read_submission(json.dumps(body), False, PlanLimits())
    # Then the value given is read, under the name it was given as
    assert plan.jobs[1] == PlannedJob(1, "b", operation, {}, depends_on, depends_on_field, operation_field)


def test_an_operation_given_as_null_under_both_names_is_missing() -> None:
    assert problems({"executionPlan": {"jobs": [{"id": "a", "operation": None, "type": None}]}}) == [
        ("/executionPlan/jobs/0", "missing_field", "'operation' (or its alias 'type') is required")
    ]


# ---- type errors keep their wording


def test_a_job_that_is_not_an_object_and_params_that_are_not_one_keep_their_messages() -> None:
    assert problems({"executionPlan": {"jobs": ["x"]}}) == [
        (
            "/executionPlan/jobs/0",
            "invalid_type",
            "'jobs': " + "Input should be a valid dictionary or instance of JobRequest",
        )
    ]
    assert problems({"executionPlan": {"jobs": [{"id": "a", "operation": "o", "params": [1]}]}}) == [
        ("/executionPlan/jobs/0/params", "invalid_type", "'params': Input should be a valid dictionary")
    ]
