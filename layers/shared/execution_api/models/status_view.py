"""The status answer without pydantic: exactly the bytes of `ExecutionStatus.of(execution, jobs)
.model_dump_json(by_alias=True)` (execution_api.models.response, which stays the schema's source and
docs/openapi.json's), built from the stored records with the standard library's json.

Loading pydantic and building the response models was about a third of the status function's cold import
(docs/benchmarks.md). What the engine and the workers store (docs/api.md) takes this path; stored data of
another shape (a custom worker's extra result keys, a float pydantic would print in exponent form, a value
pydantic would coerce or refuse) is `Unusual`, and `status_json` hands it to the models as before, so every
answer, a refusal included, stays pydantic's. tests/unit/test_models_status_view.py compares the two.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, Literal, cast, get_args

from execution_api.models.records import TERMINAL_STATES, Execution, ExecutionState, Job, WebhookDelivery

# What clients read: the original backend's four statuses. A cancel is stored as `cancelled` but read as `failed`
# with `cancelled: true` and an error in words, so a client that knows only these four (the SDK polls
# until completed or failed) settles, and a client of this API still tells a cancel from a failure.
ClientState = Literal["pending", "processing", "completed", "failed"]
CANCELLED_ERROR = "Execution cancelled"
STORED_STATES = frozenset(get_args(ExecutionState))
# JobOutput's fields by alias, in the model's order; the last four are left out when unknown (None).
OUTPUT_FIELDS = ("type", "url", "mimeType", "bytes", "durationSeconds", "width", "height")
_OUTPUT_FIELD_SET = frozenset(OUTPUT_FIELDS)
_REQUIRED_OUTPUT_FIELDS = frozenset({"type", "url"})
_RESULT_FIELDS = frozenset({"status", "outputs", "metadata"})
_INT64 = range(-(2**63), 2**63)


class Unusual(ValueError):
    """Stored data outside the shapes this module renders: the pydantic models decide its answer."""


def client_view(status: str, error: Any) -> tuple[ClientState, Any, bool]:
    """(status, error, cancelled) as a client reads a stored status and error."""
    if status == "cancelled":
        return "failed", error or CANCELLED_ERROR, True
    return cast(ClientState, status), error, False  # the other four stored words are the client's


def status_json(execution: Execution, jobs: list[Job]) -> str:
    """The status answer's body, byte for byte the model's."""
    try:
        view = status_view(execution, jobs)
    except Unusual:
        # Only for data the engine does not write: pydantic is loaded then, never on the ordinary path.
        from execution_api.models.response import ExecutionStatus

        return ExecutionStatus.of(execution, jobs).model_dump_json(by_alias=True)
    return json.dumps(view, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def last_update(execution: Execution, jobs: Iterable[Job]) -> str:
    """The answer's updatedAt: the latest change to the execution or to any of its jobs (ISO 8601 in UTC
    with milliseconds sorts as text). The engine writes each change on the job's item only, and the
    execution's item when the execution itself changes: one write per change, and no hot execution item
    (docs/data-model.md). Once the execution has ended its own time is the last: no job changes after it."""
    latest = execution.updated_at
    if execution.status in TERMINAL_STATES:
        return latest
    for job in jobs:
        if type(job.updated_at) is str and type(latest) is str and job.updated_at > latest:
            latest = job.updated_at
    return latest


def status_view(execution: Execution, jobs: list[Job]) -> dict[str, Any]:
    """ExecutionStatus's fields by alias, in its order; Unusual for stored data of another shape."""
    completed = sum(1 for job in jobs if job.status == "completed")
    total = len(jobs)
    status, error, cancelled = client_view(_state(execution.status), execution.error)
    webhook_url = execution.webhook_url
    return {
        "id": _text(execution.id),
        "executionId": execution.id,
        "status": status,
        "createdAt": _text(execution.created_at),
        "updatedAt": _text(last_update(execution, jobs)),
        "completedAt": _optional_text(execution.completed_at),
        "baseExecutionId": _optional_text(execution.base_execution_id),
        "webhook": _webhook(webhook_url, execution.webhook_delivery) if webhook_url else None,
        "totalJobs": total,
        "completedJobs": completed,
        "failedJobs": sum(1 for job in jobs if job.status in ("failed", "cancelled")),  # both read failed
        "progress": completed * 100 // total if total else (100 if execution.status == "completed" else 0),
        "currentJob": next((job.id for job in jobs if job.status == "processing"), None),
        "jobs": [_job(job, webhook_url) for job in jobs],
        "result": _execution_result(execution.result),
        "error": _optional_text(error),
        "cancelled": cancelled,
    }


def _job(job: Job, webhook_url: str | None) -> dict[str, Any]:
    status, error, cancelled = client_view(_state(job.status), job.error)
    if not isinstance(job.depends_on, tuple | list):
        raise Unusual("dependsOn")
    return {
        "id": _text(job.id),
        "operation": _text(job.operation),
        "status": status,
        "dependsOn": [_text(dependency) for dependency in job.depends_on],
        "result": _job_result(job.result),
        "error": _optional_text(error),
        "cancelled": cancelled,
        "webhook": _webhook(webhook_url, job.webhook_delivery) if job.send_webhook and webhook_url else None,
    }


def _webhook(url: Any, delivery: WebhookDelivery | None) -> dict[str, Any]:
    if delivery is None:
        return {"url": _text(url), "deliveredAt": None, "attempts": 0, "lastStatus": None}
    attempts = _whole(delivery.attempts)
    if attempts < 0:
        raise Unusual("attempts")
    return {
        "url": _text(url),
        "deliveredAt": _optional_text(delivery.delivered_at),
        "attempts": attempts,
        "lastStatus": None if delivery.last_status is None else _whole(delivery.last_status),
    }


def _execution_result(result: Any) -> dict[str, Any] | None:
    """ExecutionResult: {url, status: completed}."""
    if result is None:
        return None
    if type(result) is not dict or "url" not in result or not result.keys() <= {"url", "status"}:
        raise Unusual("result")
    _completed(result)
    return {"url": _optional_text(result["url"]), "status": "completed"}


def _job_result(result: Any) -> dict[str, Any] | None:
    """JobResult: status, outputs, metadata (any JSON)."""
    if result is None:
        return None
    if type(result) is not dict or not result.keys() <= _RESULT_FIELDS:
        raise Unusual("result")
    _completed(result)
    outputs, metadata = result.get("outputs", []), result.get("metadata", {})
    if type(outputs) is not list or type(metadata) is not dict:
        raise Unusual("result")
    _check_json(metadata)
    return {"status": "completed", "outputs": [_output(output) for output in outputs], "metadata": metadata}


def _output(output: Any) -> dict[str, Any]:
    """JobOutput: type, url and mimeType always; the size, duration and dimensions only when known."""
    if type(output) is not dict or not _REQUIRED_OUTPUT_FIELDS <= output.keys() <= _OUTPUT_FIELD_SET:
        raise Unusual("output")
    view: dict[str, Any] = {
        "type": _text(output["type"]),
        "url": _text(output["url"]),
        "mimeType": _optional_text(output.get("mimeType")),
    }
    for name in OUTPUT_FIELDS[3:]:
        value = output.get(name)
        if value is not None:
            view[name] = _fraction(value) if name == "durationSeconds" else _whole(value)
    return view


def _completed(result: dict[str, Any]) -> None:
    if result.get("status", "completed") != "completed":
        raise Unusual("status")


def _state(status: Any) -> str:
    if type(status) is not str or status not in STORED_STATES:
        raise Unusual("status")
    return status


def _text(value: Any) -> str:
    if type(value) is not str:
        raise Unusual("text")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _whole(value: Any) -> int:
    if type(value) is not int or value not in _INT64:
        raise Unusual("integer")
    return value


def _fraction(value: Any) -> float:
    """A float field: pydantic takes a whole number as that float (10 -> 10.0)."""
    if type(value) is int and value in _INT64:
        value = float(value)
    if type(value) is not float:
        raise Unusual("number")
    return _plain_float(value)


def _plain_float(value: float) -> float:
    """A finite float that json prints as pydantic does (not in exponent form: 1e+16 is pydantic's 1e16)."""
    if not math.isfinite(value) or "e" in repr(value):
        raise Unusual("number")
    return value


def _check_json(value: Any) -> None:
    """Any JSON value (metadata) that json prints as pydantic does."""
    kind = type(value)
    if kind is dict:
        _check_all(value.values(), all(type(key) is str for key in value))
    elif kind is list:
        _check_all(value, True)
    elif kind is float:
        _plain_float(value)
    elif kind is int:
        _whole(value)
    elif not (value is None or kind is str or kind is bool):
        raise Unusual("metadata")


def _check_all(values: Iterable[Any], keys_are_text: bool) -> None:
    if not keys_are_text:
        raise Unusual("metadata")
    for value in values:
        _check_json(value)
