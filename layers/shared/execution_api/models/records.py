"""Domain records: the plan once its aliases are resolved, and the execution and jobs that are stored.

These never go to a client as they are; `execution_api.models.response` shapes what clients see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import SecretStr

# "in_progress" stays readable until the rename to "processing" (SPEC section 3) lands everywhere.
ExecutionState = Literal["pending", "in_progress", "processing", "completed", "failed", "cancelled"]


@dataclass(frozen=True)
class PlannedJob:
    index: int
    id: str
    operation: str
    params: dict[str, Any]
    depends_on: tuple[str, ...]
    depends_on_field: str = "dependsOn"  # or the SDK's "dependencies": where error pointers point
    operation_field: str = "operation"  # or the SDK's "type"
    output: str | None = None


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: SecretStr | None
    pointer: str  # where the URL was given: /options/webhookUrl or /options/webhook/url


@dataclass(frozen=True)
class ExecutionPlan:
    jobs: tuple[PlannedJob, ...]
    root_job_ids: tuple[str, ...] | None = None
    base_execution_id: str | None = None
    base_execution_pointer: str = "/options/baseExecutionId"
    webhook: WebhookTarget | None = None

    def derived_root_job_ids(self) -> tuple[str, ...]:
        """The jobs with no dependencies, in plan order: what `rootJobIds` must equal."""
        return tuple(job.id for job in self.jobs if not job.depends_on)


@dataclass(frozen=True)
class Job:
    id: str
    position: int
    operation: str
    params: dict[str, Any]
    depends_on: tuple[str, ...]
    output: str | None
    status: ExecutionState = "pending"
    result: Any = None
    error: Any = None


@dataclass(frozen=True)
class Execution:
    id: str
    tenant_id: str
    status: ExecutionState
    created_at: str  # UTC ISO 8601 with milliseconds and Z, exactly what the client was told
    updated_at: str
    expires_at: int  # epoch seconds, DynamoDB TTL
    root_job_ids: tuple[str, ...]
    total_jobs: int
    base_execution_id: str | None = None
    webhook_url: str | None = None
    webhook_secret_ciphertext: bytes | None = None  # KMS ciphertext; the plain secret is never stored
    completed_at: str | None = None
    result: Any = None
    error: Any = None
