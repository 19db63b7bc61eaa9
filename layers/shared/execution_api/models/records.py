"""Domain records: the execution and jobs that are stored (the plan once its aliases are resolved is in
`execution_api.models.plan`).

These never go to a client as they are; `execution_api.models.response` shapes what clients see. Standard
library only: the status function reads them on its cold start without loading pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# The SDK's and the original backend's words, for executions and jobs alike.
ExecutionState = Literal["pending", "processing", "completed", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
UNFINISHED_STATES = ("pending", "processing")  # a tuple: the engine's conditions list them in this order


@dataclass(frozen=True)
class Job:
    id: str
    position: int
    operation: str
    params: dict[str, Any]
    depends_on: tuple[str, ...]
    output: str | None
    status: ExecutionState = "pending"
    base_depends_on: tuple[str, ...] = ()  # the dependencies that are jobs of the base execution
    sealed_params: dict[str, int] = field(default_factory=dict)  # JSON Pointer in params -> sealed value
    result: Any = None
    error: Any = None
    started_at: str | None = None  # when its gate opened and it went to a worker (the engine writes it)
    completed_at: str | None = None  # when it ended, whatever the outcome (the engine writes it)
    updated_at: str | None = None  # its last change (intake, then the engine); see last_update
    send_webhook: bool = False  # params.sendJobWebhook is true and the execution has a webhook URL
    webhook_delivery: WebhookDelivery | None = None  # that job webhook's delivery, once the job ended
    # What the engine keeps on the job while it runs (docs/engine.md); empty at intake.
    dependents: tuple[str, ...] = ()  # the in-plan jobs that depend on this one
    done_dependencies: tuple[str, ...] = ()  # the in-plan dependencies completed so far
    failed_dependency: str | None = None  # the first dependency that failed
    # The task token of the job's gate, parked while it waits: a credential of Step Functions, kept out of repr
    # (and so out of any log or error that shows the record).
    gate_token: str | None = field(default=None, repr=False)
    prediction_ref: str | None = None  # the provider prediction that runs it, if any
    # At intake, `params` as exact JSON text (exact_json.dumps), already serialized; else None. Stored in
    # place of `params`: whoever makes a Job with other params sets it to None (replace() would copy it).
    params_text: str | None = field(default=None, repr=False, compare=False)

    @property
    def in_plan_dependencies(self) -> list[str]:
        """dependsOn minus baseDependsOn: the dependencies that run in this execution."""
        base = set(self.base_depends_on)
        return [d for d in self.depends_on if d not in base]


@dataclass(frozen=True)
class WebhookDelivery:
    """How the webhook of a finished execution is being delivered (the item's `webhook` map)."""

    message_id: str  # the `webhook-id` of every attempt
    attempts: int = 0
    last_status: int | None = None  # the last answer's HTTP status; None when there was no answer
    delivered_at: str | None = None
    given_up_at: str | None = None
    enqueued: bool = False  # the first attempt's message is on the queue


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
    sealed_credentials: bytes | None = None  # KMS ciphertext of the plan's credentials (execution_api.core.credentials)
    completed_at: str | None = None
    result: Any = None
    error: Any = None
    webhook_delivery: WebhookDelivery | None = None  # set once the execution ended with a webhook URL
