"""The one typed settings object: read from the environment once per Lambda container."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, field_validator

from execution_api.container import per_container


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    executions_table_name: str = Field(alias="EXECUTIONS_TABLE_NAME", min_length=1)
    # The submit function encrypts webhook secrets with it, the webhook sender decrypts them.
    webhook_secret_key_id: str | None = Field(default=None, alias="WEBHOOK_SECRET_KEY_ID")
    idempotency_table_name: str | None = Field(default=None, alias="IDEMPOTENCY_TABLE_NAME")
    api_keys_table_name: str | None = Field(default=None, alias="API_KEYS_TABLE_NAME")  # the authorizer's
    max_jobs: int = Field(default=500, alias="MAX_JOBS", ge=0)
    max_job_params_bytes: int = Field(default=64 * 1024, alias="MAX_JOB_PARAMS_BYTES", ge=2)
    max_body_bytes: int = Field(default=1024 * 1024, alias="MAX_BODY_BYTES", ge=1)
    allowed_operations: frozenset[str] = Field(default=frozenset(), alias="ALLOWED_OPERATIONS")
    allow_insecure_webhooks: bool = Field(default=False, alias="ALLOW_INSECURE_WEBHOOKS")
    execution_retention_days: int = Field(default=90, alias="EXECUTION_RETENTION_DAYS", ge=1)
    # Browser origins allowed by CORS (comma-separated); empty: no CORS headers at all.
    cors_allow_origins: frozenset[str] = Field(default=frozenset(), alias="CORS_ALLOW_ORIGINS")
    # Webhook delivery (docs/webhooks.md): the queue of attempts, the waits between them, one attempt's limit.
    webhook_queue_url: str | None = Field(default=None, alias="WEBHOOK_QUEUE_URL")
    webhook_retry_schedule: tuple[float, ...] = Field(
        default=(5, 300, 1800, 7200, 18000, 36000, 36000), alias="WEBHOOK_RETRY_SCHEDULE"
    )
    webhook_timeout_seconds: float = Field(default=10, alias="WEBHOOK_TIMEOUT_SECONDS", gt=0, le=60)

    @field_validator("allowed_operations", "cors_allow_origins", mode="before")
    @classmethod
    def _split_operations(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(op.strip() for op in value.split(",") if op.strip())
        return value

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


@per_container
def get_settings() -> Settings:
    """Read lazily so importing a handler never fails on a missing variable."""
    return Settings.model_validate(dict(os.environ))
