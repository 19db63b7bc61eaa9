"""Each function's settings: a typed model of the variables it reads, checked when its handler is imported.

A handler module calls `load_settings(ItsSettings)` at import, in Lambda's init phase: a missing or
malformed variable fails the cold start with a message naming it, never a request. Later calls return
the same object until `reset_caches()` (the local runtime and tests change the environment).
The engine's settings extend these in `execution_api.engine.settings`. The API path's cold start reads its
settings without pydantic (execution_api.core.environment): the authorizer's in `execution_api.api.authorizer`, the
status function's in `execution_api.api.status`, CORS's in `execution_api.api.cors`, presigning's in
`execution_api.storage.outputs` (load_settings and SettingsError: execution_api.core.environment).
"""

from __future__ import annotations

import os
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from execution_api.core import limits
from execution_api.core.environment import SettingsError as SettingsError
from execution_api.core.environment import load_settings as load_settings


class EnvironmentSettings(BaseModel):
    """Read from environment variables by their names (the fields' aliases); others are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_environment(cls) -> Self:
        try:
            return cls.model_validate(dict(os.environ))
        except ValidationError as error:
            problems = "; ".join(_problem(problem) for problem in error.errors(include_url=False))
            raise SettingsError(f"the environment does not configure {cls.__name__}: {problems}") from error


def _problem(problem: ErrorDetails) -> str:
    """One variable's problem, named (the values stay out of the logs)."""
    name = ".".join(str(part) for part in problem["loc"])
    return f"{name} is not set" if problem["type"] == "missing" else f"{name}: {problem['msg']}"


def _pairs(value: object) -> object:
    """A comma-separated variable of `name=value` pairs as a dict (DEFAULT_MODELS: operation=modelId)."""
    if isinstance(value, str):
        pairs = (part.split("=", 1) for part in value.split(",") if "=" in part)
        return {name.strip(): chosen.strip() for name, chosen in pairs if name.strip() and chosen.strip()}
    return value


def _names(value: object) -> object:
    """A comma-separated variable as a set of its non-empty, stripped parts."""
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    return value


class FunctionSettings(EnvironmentSettings):
    """What every function of the executions table reads."""

    executions_table_name: str = Field(alias="EXECUTIONS_TABLE_NAME", min_length=1)


class SweeperSettings(FunctionSettings):
    """The sweeper reads the executions table only."""


class ApiSettings(FunctionSettings):
    """What every API route reads (execution_api.api.resolver); CORS_ALLOW_ORIGINS is read by execution_api.api.cors."""


class OutputSettings(EnvironmentSettings):
    """Where outputs live and how long a presigned URL lasts, for the workers' settings to extend (the status
    function and the webhook sender present outputs with execution_api.storage.outputs.OutputLinkSettings: the same
    variables and bounds, without pydantic)."""

    outputs_bucket_name: str = Field(alias="OUTPUTS_BUCKET_NAME", min_length=3)
    output_url_expiry_seconds: int = Field(
        default=limits.DEFAULT_URL_EXPIRY_SECONDS,
        alias="OUTPUT_URL_EXPIRY_SECONDS",
        ge=limits.MIN_URL_EXPIRY_SECONDS,
        le=limits.MAX_URL_EXPIRY_SECONDS,
    )


class SubmitSettings(ApiSettings):
    """POST /api/execute: the plan's limits, where idempotency records go, the key that seals secrets."""

    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=1)
    # Seals webhook secrets and credentials (the webhook sender and the worker open them).
    credential_key_id: str = Field(alias="CREDENTIAL_KEY_ID", min_length=1)
    max_jobs: int = Field(default=limits.MAX_JOBS, alias="MAX_JOBS", ge=0)
    max_job_params_bytes: int = Field(default=limits.MAX_JOB_PARAMS_BYTES, alias="MAX_JOB_PARAMS_BYTES", ge=2)
    max_body_bytes: int = Field(default=limits.MAX_BODY_BYTES, alias="MAX_BODY_BYTES", ge=1)
    # Operations custom workers run on the work queue, besides the built-in ones (execution_api.core.operations).
    allowed_operations: frozenset[str] = Field(default=frozenset(), alias="ALLOWED_OPERATIONS")
    # Where the simulated executor runs (make run, tests), any operation name is accepted.
    simulated_executor: bool = Field(default=False, alias="SIMULATED_EXECUTOR")
    # A generation job that names no modelId runs on the operation's default here (operation=modelId, ...),
    # else on the local provider where it stands in (make run), else is refused (model_required).
    default_models: dict[str, str] = Field(default_factory=dict, alias="DEFAULT_MODELS")
    local_providers: bool = Field(default=False, alias="LOCAL_PROVIDERS")
    allow_insecure_webhooks: bool = Field(default=False, alias="ALLOW_INSECURE_WEBHOOKS")
    execution_retention_days: int = Field(default=90, alias="EXECUTION_RETENTION_DAYS", ge=1)

    _split_operations = field_validator("allowed_operations", mode="before")(_names)
    _split_models = field_validator("default_models", mode="before")(_pairs)


class WebhookSettings(FunctionSettings):
    """Webhook delivery (docs/webhooks.md): the queue of attempts, the waits between them, one attempt's
    limit. The enqueue function reads these; it never opens a secret."""

    webhook_queue_url: str = Field(alias="WEBHOOK_QUEUE_URL", min_length=1)
    credential_key_id: str | None = Field(default=None, alias="CREDENTIAL_KEY_ID")
    allow_insecure_webhooks: bool = Field(default=False, alias="ALLOW_INSECURE_WEBHOOKS")
    webhook_retry_schedule: tuple[float, ...] = Field(
        default=(5, 300, 1800, 7200, 18000, 36000, 36000), alias="WEBHOOK_RETRY_SCHEDULE"
    )
    webhook_timeout_seconds: float = Field(default=10, alias="WEBHOOK_TIMEOUT_SECONDS", gt=0, le=60)
    # The sender presents output references as presigned GETs (execution_api.storage.outputs); enqueue needs none.
    outputs_bucket_name: str | None = Field(default=None, alias="OUTPUTS_BUCKET_NAME")

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        """Seconds before each retry, comma-separated: "5,300,1800"; empty means no retries."""
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _non_negative_waits(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(wait < 0 for wait in value):
            raise ValueError("waits between webhook attempts cannot be negative")
        return value


class WebhookSenderSettings(WebhookSettings):
    """The sender opens each execution's webhook secret with this key."""

    credential_key_id: str = Field(alias="CREDENTIAL_KEY_ID", min_length=1)
    outputs_bucket_name: str = Field(alias="OUTPUTS_BUCKET_NAME", min_length=3)
