"""The POST /api/execute body as clients send it, canonical form and the SDK's aliases.

Structure is checked here (types, lengths, patterns, unknown fields); the rules that need the
whole plan (dependencies, cycles, roots, webhook hosts, limits from settings) live in
`execution_api.plan_checks`, so both the OpenAPI document and the checks come from one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from execution_api.errors import Violation
from execution_api.models.records import ExecutionPlan, PlannedJob, WebhookTarget

JOB_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
OPERATION_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:-]*$"

JobId = Annotated[str, Field(min_length=1, max_length=128, pattern=JOB_ID_PATTERN)]
Operation = Annotated[str, Field(min_length=1, max_length=64, pattern=OPERATION_PATTERN)]
WebhookUrl = Annotated[str, Field(min_length=1, max_length=2048)]
WebhookSecret = Annotated[SecretStr, Field(min_length=1, max_length=512)]
ExecutionId = Annotated[str, Field(min_length=1, max_length=128)]


# Rules across fields (aliases given twice, a secret without a URL). The model validators below raise
# the first; `field_conflicts` finds them all on a raw body, for answers where a field also failed
# (pydantic skips an object's model validator once one of its fields failed).
Problems = list[tuple[str, str]]


def job_conflicts(fields: Mapping[str, Any]) -> Problems:
    present = {name for name, value in fields.items() if value is not None}
    problems: Problems = []
    if {"operation", "type"} <= present:
        problems.append(("conflicting_fields", "give either 'operation' or 'type' (its alias), not both"))
    if not {"operation", "type"} & present:
        problems.append(("missing_field", "'operation' (or its alias 'type') is required"))
    if {"dependsOn", "dependencies"} <= present:
        problems.append(("conflicting_fields", "give either 'dependsOn' or 'dependencies' (its alias), not both"))
    return problems


def options_conflicts(fields: Mapping[str, Any]) -> Problems:
    present = {name for name, value in fields.items() if value is not None}
    if "webhook" in present and present & {"webhookUrl", "webhookSecret"}:
        return [("conflicting_fields", "give either 'webhook' or 'webhookUrl'/'webhookSecret', not both forms")]
    if "webhookSecret" in present and "webhookUrl" not in present:
        return [("webhook_secret_without_url", "'webhookSecret' needs a 'webhookUrl'")]
    return []


def base_conflicts(in_plan: Any, in_options: Any) -> Problems:
    if in_plan is not None and in_options is not None and in_plan != in_options:
        message = "executionPlan.baseExecutionId and options.baseExecutionId differ; give one, or the same id twice"
        return [("conflicting_fields", message)]
    return []


def field_conflicts(body: Any) -> list[Violation]:
    """Every cross-field problem of a raw body, wherever its shape allows looking."""
    if not isinstance(body, dict):
        return []
    violations: list[Violation] = []
    plan = body.get("executionPlan")
    options = body.get("options")
    plan = plan if isinstance(plan, dict) else {}
    options = options if isinstance(options, dict) else {}
    jobs = plan.get("jobs")
    for index, job in enumerate(jobs if isinstance(jobs, list) else []):
        if isinstance(job, dict):
            fields = {name: job.get(name) for name in ("operation", "type", "dependsOn", "dependencies")}
            violations += [Violation(f"/executionPlan/jobs/{index}", *p) for p in job_conflicts(fields)]
    fields = {name: options.get(name) for name in ("webhook", "webhookUrl", "webhookSecret")}
    violations += [Violation("/options", *p) for p in options_conflicts(fields)]
    violations += [
        Violation("", *p) for p in base_conflicts(plan.get("baseExecutionId"), options.get("baseExecutionId"))
    ]
    return violations


def _raise_first(problems: Problems) -> None:
    if problems:
        raise PydanticCustomError(*problems[0])


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
        fields = {"operation": self.operation, "type": self.type, "dependsOn": self.depends_on}
        _raise_first(job_conflicts({**fields, "dependencies": self.dependencies}))
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
        fields = {"webhook": self.webhook, "webhookUrl": self.webhook_url, "webhookSecret": self.webhook_secret}
        _raise_first(options_conflicts(fields))
        return self


class SubmitExecutionRequest(_Body):
    execution_plan: ExecutionPlanRequest
    options: OptionsRequest | None = None

    @model_validator(mode="after")
    def _one_base_execution(self) -> SubmitExecutionRequest:
        in_options = self.options.base_execution_id if self.options else None
        _raise_first(base_conflicts(self.execution_plan.base_execution_id, in_options))
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
