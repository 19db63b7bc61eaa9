"""The status function renders its answer without pydantic (execution_api.models.status_view): for every
stored execution and its jobs, the body is byte for byte `ExecutionStatus.of(...).model_dump_json(by_alias=True)`,
the model docs/openapi.json documents, and where the model refuses stored data, so does the status answer."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from execution_api.models.records import Execution, Job, WebhookDelivery
from execution_api.models.response import ExecutionStatus
from execution_api.models.status_view import Unusual, status_json, status_view

STATES = ("pending", "processing", "completed", "failed", "cancelled")
texts = st.text(max_size=12)
whole = st.integers(min_value=0, max_value=2**40)
timestamps = st.just("2026-12-07T14:00:00.123Z") | texts
# What the engine writes: UTC ISO 8601 with milliseconds, which sorts as text
moments = st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1)).map(
    lambda t: t.isoformat(timespec="milliseconds") + "Z"
)
json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | texts
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=8
)
# Floats as json prints them and as pydantic does alike (no exponent form, finite): what workers write.
plain_floats = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False).filter(lambda x: "e" not in repr(x))
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | plain_floats | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def merged(base: st.SearchStrategy[Any], keys: list[str]) -> st.SearchStrategy[Any]:
    """`base`'s objects with some of `keys` added, of any JSON value."""
    return st.builds(lambda known, more: {**known, **more}, base, st.dictionaries(st.sampled_from(keys), json_values))


def outputs(floats: st.SearchStrategy[Any], odd: bool) -> st.SearchStrategy[Any]:
    known = st.fixed_dictionaries(
        {"type": st.sampled_from(["video", "audio", "image"]), "url": texts},
        optional={
            "mimeType": st.none() | texts,
            "bytes": st.none() | whole,
            "durationSeconds": st.none() | floats | whole,
            "width": st.none() | whole,
            "height": st.none() | whole,
        },
    )
    return merged(known, ["mime_type", "duration_seconds", "note"]) if odd else known


def job_results(floats: st.SearchStrategy[Any], metadata: st.SearchStrategy[Any], odd: bool) -> st.SearchStrategy[Any]:
    result = st.fixed_dictionaries(
        {"status": st.just("completed")},
        optional={"outputs": st.lists(outputs(floats, odd), max_size=3), "metadata": st.dictionaries(texts, metadata)},
    )
    if odd:  # a custom worker's extra keys, another status, not an object at all
        return st.none() | merged(result, ["text", "status"]) | json_values
    return st.none() | result


def deliveries(odd: bool) -> st.SearchStrategy[WebhookDelivery | None]:
    attempts = st.integers(-3, 10) if odd else st.integers(0, 10)
    delivery = st.builds(
        WebhookDelivery,
        message_id=texts,
        attempts=attempts,
        last_status=st.none() | st.integers(100, 599),
        delivered_at=st.none() | timestamps,
    )
    return st.none() | delivery


def jobs(odd: bool) -> st.SearchStrategy[Job]:
    floats = st.floats() if odd else plain_floats
    metadata = json_values if odd else plain_json
    return st.builds(
        Job,
        id=texts,
        position=st.integers(0, 500),
        operation=texts,
        params=st.just({}),
        depends_on=st.lists(texts, max_size=3).map(tuple),
        output=st.none(),
        status=st.sampled_from([*STATES, "queued"] if odd else STATES),
        result=job_results(floats, metadata, odd),
        error=(st.none() | texts | json_values) if odd else (st.none() | texts),
        send_webhook=st.booleans(),
        webhook_delivery=deliveries(odd),
        updated_at=st.none() | moments,
    )


def executions(odd: bool) -> st.SearchStrategy[Execution]:
    result = st.fixed_dictionaries({"url": st.none() | texts}, optional={"status": st.just("completed")})
    if odd:
        result = merged(result, ["x", "status"])
    return st.builds(
        Execution,
        id=texts,
        tenant_id=texts,
        status=st.sampled_from([*STATES, "unknown"] if odd else STATES),
        created_at=timestamps,
        updated_at=timestamps,
        expires_at=st.integers(0, 2**32),
        root_job_ids=st.just(()),
        total_jobs=st.integers(0, 500),
        base_execution_id=st.none() | texts,
        webhook_url=st.none() | texts,
        completed_at=st.none() | timestamps,
        result=(st.none() | result | json_values) if odd else (st.none() | result),
        error=(st.none() | texts | json_values) if odd else (st.none() | texts),
        webhook_delivery=deliveries(odd),
    )


def model_body(execution: Execution, job_list: list[Job]) -> str:
    return ExecutionStatus.of(execution, job_list).model_dump_json(by_alias=True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(executions(odd=False), st.lists(jobs(odd=False), max_size=6))
def test_what_the_engine_stores_is_rendered_without_pydantic_exactly_as_the_model(
    execution: Execution, job_list: list[Job]
) -> None:
    # Given an execution and jobs of the shapes the engine and workers store
    # When the status body is rendered
    view = status_view(execution, job_list)  # never Unusual: pydantic stays unloaded on this path
    body = status_json(execution, job_list)
    # Then it is the model's, byte for byte, and the model validates it back
    assert body == model_body(execution, job_list)
    assert ExecutionStatus.model_validate_json(body).model_dump(by_alias=True, mode="json") == json.loads(body) == view


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(executions(odd=True), st.lists(jobs(odd=True), max_size=4))
def test_any_other_stored_data_gets_the_models_answer_or_its_refusal(execution: Execution, job_list: list[Job]) -> None:
    # Given stored data of any shape: extra keys, other states, non-text errors, exponent floats, NaN
    try:
        expected: str | type[Exception] = model_body(execution, job_list)
    except (ValidationError, ValueError) as refused:
        expected = type(refused)
    # When the status body is rendered
    try:
        actual: str | type[Exception] = status_json(execution, job_list)
    except (ValidationError, ValueError) as refused:
        actual = type(refused)
    # Then it is the model's body, or the model's refusal (a 500 either way)
    assert actual == expected


@pytest.mark.parametrize(
    ("metadata", "plain"),
    [
        ({"fps": 29.97, "frames": 300}, True),
        ({"big": 1e16}, False),  # json prints 1e+16, pydantic 1e16
        ({"small": 1e-05}, False),
        ({"nan": float("nan")}, False),
        ({"huge": 2**70}, False),
    ],
)
def test_a_float_or_integer_json_and_pydantic_print_differently_takes_the_models_path(
    metadata: dict[str, Any], plain: bool
) -> None:
    execution = Execution("e" * 21, "t", "completed", "c", "u", 0, (), 1)
    job = Job("j", 0, "video", {}, (), None, "completed", result={"status": "completed", "metadata": metadata})
    if plain:
        status_view(execution, [job])
    else:
        with pytest.raises(Unusual):
            status_view(execution, [job])
    try:
        expected = model_body(execution, [job])
    except ValueError as refused:
        with pytest.raises(type(refused)):
            status_json(execution, [job])
    else:
        assert status_json(execution, [job]) == expected


@given(moments, st.lists(st.none() | moments, max_size=6), st.sampled_from(STATES))
def test_updated_at_is_the_latest_change_of_the_execution_or_any_job(
    execution_at: str, job_times: list[str | None], state: Any
) -> None:
    # Given an execution written at one moment and jobs changed at others (or never since intake)
    execution = Execution(
        id="e",
        tenant_id="t",
        status=state,
        created_at=execution_at,
        updated_at=execution_at,
        expires_at=0,
        root_job_ids=(),
        total_jobs=len(job_times),
    )
    job_list = [
        Job(id=f"j{i}", position=i, operation="merge", params={}, depends_on=(), output=None, updated_at=at)
        for i, at in enumerate(job_times)
    ]
    # When the status is rendered, by either path
    # Then updatedAt is the latest of them all; once the execution has ended, its end (no job changes after it)
    ended = state in ("completed", "failed", "cancelled")
    latest = execution_at if ended else max([execution_at, *(at for at in job_times if at is not None)])
    assert status_view(execution, job_list)["updatedAt"] == latest
    assert json.loads(model_body(execution, job_list))["updatedAt"] == latest
