"""The POST /api/execute body as clients send it: the canonical form and the SDK's aliases.

These models check structure only (types, lengths, patterns, unknown fields) and document the body
in OpenAPI. `execution_api.intake.validation` runs them and the whole-plan rules in one pass.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, SecretStr, Tag
from pydantic.alias_generators import to_camel

from execution_api.core.limits import (
    MAX_JOB_ID_LENGTH,
    MAX_OPERATION_LENGTH,
    MAX_OUTPUT_LENGTH,
    MAX_PROVIDER_KEY_LENGTH,
    MAX_PROVIDER_NAME_LENGTH,
    MAX_WEBHOOK_SECRET_LENGTH,
    MAX_WEBHOOK_URL_LENGTH,
)

JOB_ID_RULE = f"job ids are 1 to {MAX_JOB_ID_LENGTH} characters of A-Z a-z 0-9 . _ : -"
OPERATION_RULE = f"an operation is 1 to {MAX_OPERATION_LENGTH} characters: a letter, then letters, digits, _ . : -"

JobId = Annotated[str, Field(min_length=1, max_length=MAX_JOB_ID_LENGTH, pattern=r"^[A-Za-z0-9._:-]+$")]
Operation = Annotated[str, Field(min_length=1, max_length=MAX_OPERATION_LENGTH, pattern=r"^[A-Za-z][A-Za-z0-9_.:-]*$")]
WebhookUrl = Annotated[str, Field(min_length=1, max_length=MAX_WEBHOOK_URL_LENGTH)]
WebhookSecret = Annotated[SecretStr, Field(min_length=1, max_length=MAX_WEBHOOK_SECRET_LENGTH)]
ExecutionId = Annotated[str, Field(min_length=1, max_length=128)]
ProviderName = Annotated[str, Field(min_length=1, max_length=MAX_PROVIDER_NAME_LENGTH, pattern=r"^[A-Za-z0-9_.:-]+$")]
ProviderKey = Annotated[SecretStr, Field(min_length=1, max_length=MAX_PROVIDER_KEY_LENGTH)]


class _Body(BaseModel):
    # extra="forbid" turns typos such as `dependOn` into 422s instead of silently dropped data.
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)


class JobRequest(_Body):
    # Titles from the wire names ("Dependson"), as docs/openapi.json has always shown them.
    model_config = ConfigDict(field_title_generator=lambda name, _: to_camel(name).title())

    id: JobId
    operation: Operation | None = None
    type: Operation | None = Field(default=None, description="The SDK's name for `operation`.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Kept exactly as sent. Credential-like keys (apiKey, token, secret, ...) are sealed with KMS.",
    )
    depends_on: list[JobId] | None = Field(
        default=None, description="Ids of jobs in this plan, or of completed jobs of the base execution."
    )
    dependencies: list[JobId] | None = Field(default=None, description="The SDK's name for `dependsOn`.")
    output: str | None = Field(
        default=None, max_length=MAX_OUTPUT_LENGTH, description="The SDK's output handle, kept as given."
    )


class ExecutionPlanRequest(_Body):
    jobs: list[JobRequest]
    root_job_ids: list[JobId] | None = Field(
        default=None, description="Derived from the jobs without dependencies when absent."
    )
    base_execution_id: ExecutionId | None = Field(
        default=None, description="The SDK's place for `options.baseExecutionId`."
    )


class WebhookRequest(_Body):
    url: WebhookUrl
    secret: WebhookSecret | None = None


# Tagged, so a wrong value gets the errors of the form it was meant as, not of both forms.
WebhookForm = Annotated[
    Annotated[WebhookRequest, Tag("webhook-object")] | Annotated[WebhookUrl, Tag("webhook-url")],
    Discriminator(lambda value: "webhook-object" if isinstance(value, dict | WebhookRequest) else "webhook-url"),
]


class OptionsRequest(_Body):
    base_execution_id: ExecutionId | None = None
    webhook_url: WebhookUrl | None = None
    webhook_secret: WebhookSecret | None = None
    webhook: WebhookForm | None = Field(
        default=None,
        description="The SDK's forms: an object {url, secret}, or the URL alone with `webhookSecret` beside it.",
    )
    provider_api_keys: dict[ProviderName, ProviderKey] | None = Field(
        default=None, description="Provider credentials, sealed with KMS; only the worker running a job opens them."
    )


class SubmitExecutionRequest(_Body):
    execution_plan: ExecutionPlanRequest
    options: OptionsRequest | None = None


# Where each field name belongs, for unknown-field hints: a typo gets "did you mean", a field placed
# in the wrong object gets told where it goes.
FIELDS_OF: dict[str, tuple[str, ...]] = {
    "the body": tuple(field.alias or name for name, field in SubmitExecutionRequest.model_fields.items()),
    "executionPlan": tuple(field.alias or name for name, field in ExecutionPlanRequest.model_fields.items()),
    "a job": tuple(field.alias or name for name, field in JobRequest.model_fields.items()),
    "options": tuple(field.alias or name for name, field in OptionsRequest.model_fields.items()),
    "options.webhook": tuple(field.alias or name for name, field in WebhookRequest.model_fields.items()),
}
