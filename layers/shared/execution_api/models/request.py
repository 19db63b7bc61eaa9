"""The POST /api/execute body as clients send it, canonical form and the SDK's aliases.

Structure is checked here (types, lengths, patterns, unknown fields); the rules that need the
whole plan (dependencies, cycles, roots, webhook hosts, limits from settings) live in
`execution_api.plan_checks`, so both the OpenAPI document and the checks come from one place.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from execution_api.models.records import ExecutionPlan, PlannedJob, WebhookTarget

JOB_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
OPERATION_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:-]*$"

JobId = Annotated[str, Field(min_length=1, max_length=128, pattern=JOB_ID_PATTERN)]
Operation = Annotated[str, Field(min_length=1, max_length=64, pattern=OPERATION_PATTERN)]
WebhookUrl = Annotated[str, Field(min_length=1, max_length=2048)]
WebhookSecret = Annotated[SecretStr, Field(min_length=1, max_length=512)]
ExecutionId = Annotated[str, Field(min_length=1, max_length=128)]


class _Body(BaseModel):
    # extra="forbid" turns typos such as `dependOn` into 422s instead of silently dropped data.
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)


class JobRequest(_Body):
    id: JobId
    operation: Operation | None = None
    type: Operation | None = Field(default=None, description="The SDK's name for `operation`.")
    params: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[JobId] | None = None
    dependencies: list[JobId] | None = Field(default=None, description="The SDK's name for `dependsOn`.")
    output: str | None = Field(default=None, max_length=256, description="The SDK's output handle, kept as given.")

    @model_validator(mode="after")
    def _one_name_each(self) -> JobRequest:
        if self.operation is not None and self.type is not None:
            raise PydanticCustomError("conflicting_fields", "give either 'operation' or 'type' (its alias), not both")
        if self.operation is None and self.type is None:
            raise PydanticCustomError("missing_field", "'operation' (or its alias 'type') is required")
        if self.depends_on is not None and self.dependencies is not None:
            raise PydanticCustomError(
                "conflicting_fields", "give either 'dependsOn' or 'dependencies' (its alias), not both"
            )
        return self


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


class OptionsRequest(_Body):
    base_execution_id: ExecutionId | None = None
    webhook_url: WebhookUrl | None = None
    webhook_secret: WebhookSecret | None = None
    webhook: WebhookRequest | None = Field(default=None, description="The SDK's form of webhookUrl/webhookSecret.")

    @model_validator(mode="after")
    def _one_webhook_form(self) -> OptionsRequest:
        if self.webhook is not None and (self.webhook_url is not None or self.webhook_secret is not None):
            raise PydanticCustomError(
                "conflicting_fields", "give either 'webhook' or 'webhookUrl'/'webhookSecret', not both forms"
            )
        if self.webhook_secret is not None and self.webhook_url is None:
            raise PydanticCustomError("webhook_secret_without_url", "'webhookSecret' needs a 'webhookUrl'")
        return self


class SubmitExecutionRequest(_Body):
    execution_plan: ExecutionPlanRequest
    options: OptionsRequest | None = None

    @model_validator(mode="after")
    def _one_base_execution(self) -> SubmitExecutionRequest:
        in_plan = self.execution_plan.base_execution_id
        in_options = self.options.base_execution_id if self.options else None
        if in_plan is not None and in_options is not None and in_plan != in_options:
            raise PydanticCustomError(
                "conflicting_fields",
                "executionPlan.baseExecutionId and options.baseExecutionId differ; give one, or the same id twice",
            )
        return self

    def to_plan(self) -> ExecutionPlan:
        """The plan in one canonical shape, aliases resolved, pointers kept for error reports."""
        jobs = tuple(
            PlannedJob(
                index=index,
                id=job.id,
                operation=job.operation or job.type or "",
                params=job.params,
                depends_on=tuple(job.depends_on if job.depends_on is not None else job.dependencies or ()),
                depends_on_field="dependencies" if job.dependencies is not None else "dependsOn",
                operation_field="operation" if job.operation is not None else "type",
                output=job.output,
            )
            for index, job in enumerate(self.execution_plan.jobs)
        )
        options = self.options or OptionsRequest()
        webhook: WebhookTarget | None = None
        if options.webhook is not None:
            webhook = WebhookTarget(options.webhook.url, options.webhook.secret, "/options/webhook/url")
        elif options.webhook_url is not None:
            webhook = WebhookTarget(options.webhook_url, options.webhook_secret, "/options/webhookUrl")
        base_in_plan = self.execution_plan.base_execution_id
        return ExecutionPlan(
            jobs=jobs,
            root_job_ids=None if self.execution_plan.root_job_ids is None else tuple(self.execution_plan.root_job_ids),
            base_execution_id=base_in_plan or options.base_execution_id,
            base_execution_pointer="/executionPlan/baseExecutionId" if base_in_plan else "/options/baseExecutionId",
            webhook=webhook,
        )


# Every field name a body may use, for "did you mean ...?" hints on unknown fields.
FIELD_NAMES = sorted(
    {
        field.alias or name
        for model in (SubmitExecutionRequest, ExecutionPlanRequest, JobRequest, OptionsRequest, WebhookRequest)
        for name, field in model.model_fields.items()
    }
)
