"""Response bodies: what clients see. Built from domain records, never from stored items directly.

These models are the schema of every answer (docs/openapi.json). The status function renders its answer
with execution_api.models.status_view, the same bytes without loading pydantic on its cold start."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from execution_api.core.errors import PROBLEM_JSON
from execution_api.models.records import Execution, Job, WebhookDelivery
from execution_api.models.status_view import CANCELLED_ERROR, ClientState, client_view, last_update

CANCELLED_DOC = "True when the execution was cancelled: `status` then reads `failed` and `error` says so."


class _Response(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


def status_url(execution_id: str) -> str:
    """The status route's path; the submit handler puts the stage or base path the client called before it."""
    return f"/api/execute/{execution_id}/status"


class ExecutionAccepted(_Response):
    id: str = Field(description="The execution id, a 21-character nanoid.", examples=["V1StGXR8_Z5jdHi6B-myT"])
    execution_id: str = Field(description="The same id, for the SDK.")
    status: Literal["pending"] = "pending"
    created_at: str = Field(
        description="UTC ISO 8601 with milliseconds, as stored.", examples=["2026-11-26T06:47:19.123Z"]
    )
    status_url: str

    @classmethod
    def of(cls, execution: Execution) -> ExecutionAccepted:
        return cls(
            id=execution.id,
            execution_id=execution.id,
            created_at=execution.created_at,
            status_url=status_url(execution.id),
        )


def _unknown(value: Any) -> bool:
    return value is None


class JobOutput(_Response):
    type: str = Field(examples=["video"])
    url: str = Field(
        description="A presigned GET for an output in the service's bucket (no API key needed, valid for a "
        "bounded time: docs/api.md), or the URL a custom worker gave.",
        examples=["https://outputs.example-bucket.s3.amazonaws.com/3f2a.../V1StGXR8_Z5jdHi6B-myT/9c1e.../a41f.mp4"],
    )
    mime_type: str | None = Field(default=None, examples=["video/mp4"])
    # What is not known (a simulated output's size, an image's duration) is left out, not null.
    bytes: int | None = Field(
        default=None, exclude_if=_unknown, description="The object's size; absent when unknown.", examples=[1048576]
    )
    duration_seconds: float | None = Field(
        default=None, exclude_if=_unknown, description="Video and audio only.", examples=[10.0]
    )
    width: int | None = Field(default=None, exclude_if=_unknown, description="Video and image only.", examples=[1080])
    height: int | None = Field(default=None, exclude_if=_unknown, description="Video and image only.", examples=[1920])


class JobResult(_Response):
    status: Literal["completed"] = "completed"
    outputs: list[JobOutput] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ExecutionResult(_Response):
    url: str | None = Field(description="The first output url of the last leaf job; the SDK reads `result.url`.")
    status: Literal["completed"] = "completed"


class Webhook(_Response):
    """Where the execution's end (or a job's, for its own webhook) is announced and how that went; the secret
    is never returned."""

    url: str
    delivered_at: str | None = Field(default=None, description="When a receiver answered 2xx.")
    attempts: int = Field(default=0, ge=0, description="Delivery attempts made so far.")
    last_status: int | None = Field(
        default=None, description="HTTP status of the last attempt's answer; null before one or without an answer."
    )

    @classmethod
    def of(cls, execution: Execution) -> Webhook | None:
        return cls.of_delivery(execution.webhook_url, execution.webhook_delivery) if execution.webhook_url else None

    @classmethod
    def of_delivery(cls, url: str, delivery: WebhookDelivery | None) -> Webhook:
        if delivery is None:
            return cls(url=url)
        return cls(
            url=url, delivered_at=delivery.delivered_at, attempts=delivery.attempts, last_status=delivery.last_status
        )


class JobStatus(_Response):
    id: str
    operation: str
    status: ClientState
    depends_on: list[str]
    result: JobResult | None = None
    error: str | None = Field(default=None, examples=["Dependency job failed: job1"])
    cancelled: bool = Field(default=False, description="True when the job was cancelled with its execution.")
    webhook: Webhook | None = Field(
        default=None, description="The job's own webhook (params.sendJobWebhook) and its delivery; else null."
    )

    @classmethod
    def of(cls, job: Job, webhook_url: str | None) -> JobStatus:
        status, error, cancelled = client_view(job.status, job.error)
        return cls(
            id=job.id,
            operation=job.operation,
            status=status,
            depends_on=list(job.depends_on),
            result=job.result,
            error=error,
            cancelled=cancelled,
            webhook=Webhook.of_delivery(webhook_url, job.webhook_delivery)
            if job.send_webhook and webhook_url
            else None,
        )


class ExecutionStatus(_Response):
    id: str
    execution_id: str
    status: ClientState
    created_at: str
    updated_at: str
    completed_at: str | None
    base_execution_id: str | None
    webhook: Webhook | None
    total_jobs: int
    completed_jobs: int
    failed_jobs: int
    progress: int = Field(ge=0, le=100, description="Percentage of jobs completed.")
    current_job: str | None = Field(description="The id of a job in `processing`, if any.")
    jobs: list[JobStatus]
    result: ExecutionResult | None = None
    error: str | None = Field(default=None, description="The failed jobs' errors, in words.")
    cancelled: bool = Field(default=False, description=CANCELLED_DOC)

    @classmethod
    def of(cls, execution: Execution, jobs: list[Job]) -> ExecutionStatus:
        completed = sum(1 for job in jobs if job.status == "completed")
        total = len(jobs)
        status, error, cancelled = client_view(execution.status, execution.error)
        return cls(
            id=execution.id,
            execution_id=execution.id,
            status=status,
            created_at=execution.created_at,
            updated_at=last_update(execution, jobs),
            completed_at=execution.completed_at,
            base_execution_id=execution.base_execution_id,
            webhook=Webhook.of(execution),
            total_jobs=total,
            completed_jobs=completed,
            failed_jobs=sum(1 for job in jobs if job.status in ("failed", "cancelled")),  # both read failed
            progress=completed * 100 // total if total else (100 if execution.status == "completed" else 0),
            current_job=next((job.id for job in jobs if job.status == "processing"), None),
            jobs=[JobStatus.of(job, execution.webhook_url) for job in jobs],
            result=execution.result,
            error=error,
            cancelled=cancelled,
        )


class ProblemDetail(BaseModel):
    pointer: str = Field(
        description="RFC 6901 JSON Pointer into the request body.", examples=["/executionPlan/jobs/1/dependsOn/0"]
    )
    code: str = Field(examples=["unknown_dependency"])
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; `error` repeats `detail` and `code` is stable, for the SDK."""

    type: str = Field(examples=["https://errors.execution-api.dev/validation"])
    title: str
    status: int
    detail: str
    code: str
    error: str
    instance: str = Field(description="The request id, to quote when reporting a problem.")
    errors: list[ProblemDetail] | None = Field(default=None, description="At most 100 violations, in body order.")
    error_count: int | None = Field(
        default=None, alias="errorCount", description="How many violations there were in all, when `errors` is cut."
    )
    errors_truncated: bool | None = Field(default=None, alias="errorsTruncated")


# Every error status the API documents, for the OpenAPI document of each route.
PROBLEM_RESPONSES: dict[int, Any] = {
    status: {"description": description, "content": {PROBLEM_JSON: {"model": Problem}}}
    for status, description in (
        (400, "The body is not JSON, or not a JSON object; or the Idempotency-Key is malformed."),
        (401, "Missing or invalid API key."),
        (404, "No such execution (or route)."),
        (405, "The route does not take this method."),
        (409, "A request with this Idempotency-Key is still running, or the execution has already ended."),
        (413, "The body is larger than MAX_BODY_BYTES."),
        (415, "The body is not application/json."),
        (
            422,
            "The plan breaks rules (each listed in `errors`), or the Idempotency-Key came with another body.",
        ),
        (429, "Too many requests (the tenant's usage plan or the stage's throttle)."),
        (500, "An internal error; quote `instance` when reporting it."),
        (503, "DynamoDB or KMS is throttled or unavailable; retry after `Retry-After` seconds."),
    )
}


class ExecutionCancelled(_Response):
    """The cancel answer, in the status route's form of a cancel."""

    id: str
    execution_id: str
    status: Literal["failed"] = "failed"
    cancelled: Literal[True] = Field(default=True, description=CANCELLED_DOC)
    error: str = CANCELLED_ERROR
    status_url: str

    @classmethod
    def of(cls, execution_id: str, base_path: str = "") -> ExecutionCancelled:
        return cls(id=execution_id, execution_id=execution_id, status_url=base_path + status_url(execution_id))
