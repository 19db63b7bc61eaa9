"""The one validation path of POST /api/execute: the body is parsed once, its structure and every
whole-plan rule are checked in the same pass, and all violations come back together.

Order, each step only if the previous passed: the body is JSON (400), the JSON is an object (400), it
holds at most MAX_JOBS jobs (422 with that one problem: nothing is checked job by job in a plan that is
refused anyway), then schema, cross-field and plan rules (422, every violation listed).
"""

from __future__ import annotations

import base64
import binascii
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr, ValidationError

from execution_api.core import exact_json
from execution_api.core.errors import MalformedRequest, PlanRejected, Violation
from execution_api.core.limits import (
    MAX_OUTPUT_LENGTH,
    MAX_PROVIDER_KEY_LENGTH,
    MAX_PROVIDER_NAME_LENGTH,
    MAX_WEBHOOK_SECRET_LENGTH,
    MAX_WEBHOOK_URL_LENGTH,
)
from execution_api.intake.rules import PlanLimits, check_plan, pointer
from execution_api.models.plan import ExecutionPlan, PlannedJob, WebhookTarget
from execution_api.models.request import FIELDS_OF, JOB_ID_RULE, OPERATION_RULE, SubmitExecutionRequest


def read_submission(
    body: str | None, is_base64_encoded: bool, limits: PlanLimits, *, allow_insecure_webhooks: bool = False
) -> tuple[dict[str, Any], ExecutionPlan]:
    """The body (`parse_body`) and its plan (`validate_submission`): what the submit route runs."""
    value = parse_body(body, is_base64_encoded)
    return value, validate_submission(value, limits, allow_insecure_webhooks=allow_insecure_webhooks)


def parse_body(body: str | None, is_base64_encoded: bool = False) -> dict[str, Any]:
    """The request body as a JSON object with exact numbers; MalformedRequest (400) otherwise."""
    if not body:
        raise MalformedRequest("malformed_json", "the body is empty; send a JSON object")
    try:
        text = base64.b64decode(body).decode("utf-8") if is_base64_encoded else body
    except (binascii.Error, UnicodeDecodeError) as error:
        raise MalformedRequest("malformed_json", "the body is not valid UTF-8 JSON") from error
    try:
        value = exact_json.loads(text)
    except exact_json.NotJson as error:
        raise MalformedRequest("malformed_json", str(error)) from error
    if not isinstance(value, dict):
        raise MalformedRequest("body_not_object", "the body must be a JSON object")
    return value


def validate_submission(
    body: dict[str, Any], limits: PlanLimits, *, allow_insecure_webhooks: bool = False
) -> ExecutionPlan:
    """The plan in one canonical shape, aliases resolved; PlanRejected with every violation otherwise.
    `allow_insecure_webhooks` (ALLOW_INSECURE_WEBHOOKS) lets an http:// webhook URL to a public host pass."""
    too_many = _too_many_jobs(body, limits.max_jobs)
    if too_many is not None:
        raise PlanRejected([too_many])
    violations = _schema_violations(body) + field_conflicts(body)
    plan = plan_from_body(body)
    if plan is not None:
        violations += check_plan(plan, limits, allow_insecure_webhooks=allow_insecure_webhooks)
    if violations:
        raise PlanRejected(_unique(violations))
    assert plan is not None  # a body that passed the schema always yields a plan
    return plan


def _too_many_jobs(body: Mapping[str, Any], max_jobs: int) -> Violation | None:
    jobs = _object(body.get("executionPlan")).get("jobs")
    if isinstance(jobs, list) and len(jobs) > max_jobs:
        return Violation(
            "/executionPlan/jobs", "too_many_jobs", f"a plan has at most {max_jobs} jobs, this one {len(jobs)}"
        )
    return None


def _schema_violations(body: Mapping[str, Any]) -> list[Violation]:
    try:
        SubmitExecutionRequest.model_validate(body)
    except ValidationError as error:
        return [_schema_violation(e) for e in error.errors(include_url=False, include_input=False)]
    return []


def _unique(violations: list[Violation]) -> list[Violation]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for violation in violations:
        if (violation.pointer, violation.code) not in seen:
            seen.add((violation.pointer, violation.code))
            unique.append(violation)
    return unique


# ---- the SDK's aliases, all here: which name a job gives a field under, and the conflicts between forms


@dataclass(frozen=True)
class _JobField:
    """A job field with two names. Null counts as not given; given under both names is a conflict, and
    then the canonical name is read. The name given is where pointers into the job point."""

    name: str
    alias: str
    required: bool

    def given_as(self, job: Mapping[str, Any]) -> str:
        return self.alias if job.get(self.name) is None and job.get(self.alias) is not None else self.name

    def conflicts(self, index: int, job: Mapping[str, Any]) -> list[Violation]:
        has_name, has_alias = job.get(self.name) is not None, job.get(self.alias) is not None
        if has_name and has_alias:
            message = f"give either '{self.name}' or '{self.alias}' (its alias), not both"
            return [Violation(f"/executionPlan/jobs/{index}", "conflicting_fields", message)]
        if self.required and not (has_name or has_alias):
            message = f"'{self.name}' (or its alias '{self.alias}') is required"
            return [Violation(f"/executionPlan/jobs/{index}", "missing_field", message)]
        return []


OPERATION = _JobField("operation", "type", required=True)
DEPENDS_ON = _JobField("dependsOn", "dependencies", required=False)
JOB_FIELDS_WITH_ALIASES = (OPERATION, DEPENDS_ON)


def plan_from_body(body: Mapping[str, Any]) -> ExecutionPlan | None:
    """The plan, every alias resolved; built even when the schema failed, so graph problems are reported
    in the same answer. None when the jobs' shape is too broken to reason about (an id that is not a
    string, ...)."""
    body = _object(body)
    plan = _object(body.get("executionPlan"))
    raw_jobs = plan.get("jobs")
    if not isinstance(raw_jobs, list):
        return None
    jobs = tuple(job for index, raw in enumerate(raw_jobs) if (job := _job_from_body(index, raw)) is not None)
    if len(jobs) < len(raw_jobs):
        return None
    options = _object(body.get("options"))
    roots = plan.get("rootJobIds")
    keys = _object(options.get("providerApiKeys"))
    base_in_plan = _string(plan.get("baseExecutionId"))
    return ExecutionPlan(
        jobs=jobs,
        root_job_ids=tuple(roots) if isinstance(roots, list) and all(isinstance(r, str) for r in roots) else None,
        base_execution_id=base_in_plan or _string(options.get("baseExecutionId")),
        base_execution_pointer="/executionPlan/baseExecutionId" if base_in_plan else "/options/baseExecutionId",
        webhook=_webhook_from_options(options),
        provider_api_keys={name: SecretStr(key) for name, key in keys.items() if isinstance(key, str)},
    )


def _job_from_body(index: int, raw: Any) -> PlannedJob | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    depends_field, operation_field = DEPENDS_ON.given_as(raw), OPERATION.given_as(raw)
    depends_on = raw.get(depends_field)
    depends_on = [] if depends_on is None else depends_on
    params = raw.get("params", {})
    if not (isinstance(depends_on, list) and all(isinstance(d, str) for d in depends_on) and isinstance(params, dict)):
        return None
    operation, output = raw.get(operation_field), raw.get("output")
    return PlannedJob(
        index,
        raw["id"],
        operation if isinstance(operation, str) else "",
        params,
        tuple(depends_on),
        depends_field,
        operation_field,
        output if isinstance(output, str) else None,
    )


def _webhook_from_options(options: Mapping[str, Any]) -> WebhookTarget | None:
    webhook = options.get("webhook")
    secret = _string(options.get("webhookSecret"))
    if isinstance(webhook, dict) and isinstance(webhook.get("url"), str):
        inner_secret = _string(webhook.get("secret"))
        return WebhookTarget(webhook["url"], SecretStr(inner_secret) if inner_secret else None, "/options/webhook/url")
    if isinstance(webhook, str):  # the SDK's flat form: the URL alone, webhookSecret beside it
        return WebhookTarget(webhook, SecretStr(secret) if secret else None, "/options/webhook")
    if isinstance(options.get("webhookUrl"), str):
        return WebhookTarget(options["webhookUrl"], SecretStr(secret) if secret else None, "/options/webhookUrl")
    return None


def field_conflicts(body: Mapping[str, Any]) -> list[Violation]:
    """The rules across fields: aliases given twice, a secret without a URL, two different base ids."""
    body = _object(body)
    plan = _object(body.get("executionPlan"))
    options = _object(body.get("options"))
    raw_jobs = plan.get("jobs")
    violations: list[Violation] = []
    for index, job in enumerate(raw_jobs if isinstance(raw_jobs, list) else ()):
        if isinstance(job, dict):
            for field in JOB_FIELDS_WITH_ALIASES:
                violations += field.conflicts(index, job)
    violations += _options_conflicts(options)
    base_in_plan, base_in_options = plan.get("baseExecutionId"), options.get("baseExecutionId")
    if base_in_plan is not None and base_in_options is not None and base_in_plan != base_in_options:
        message = "executionPlan.baseExecutionId and options.baseExecutionId differ; give one, or the same id twice"
        violations.append(Violation("", "conflicting_fields", message))
    return violations


def _options_conflicts(options: Mapping[str, Any]) -> list[Violation]:
    present = {name for name in ("webhook", "webhookUrl", "webhookSecret") if options.get(name) is not None}
    webhook_is_object = isinstance(options.get("webhook"), dict)
    if webhook_is_object and present & {"webhookUrl", "webhookSecret"}:
        clash = " and ".join(f"'{n}'" for n in sorted(present & {"webhookUrl", "webhookSecret"}))
        message = f"give either 'webhook' {{url, secret}} or {clash}, not both forms"
        return [Violation("/options", "conflicting_fields", message)]
    if "webhook" in present and "webhookUrl" in present:
        message = "the webhook URL is given twice: as 'webhook' and as 'webhookUrl'; give one"
        return [Violation("/options", "conflicting_fields", message)]
    if "webhookSecret" in present and not present & {"webhook", "webhookUrl"}:
        return [Violation("/options", "webhook_secret_without_url", "'webhookSecret' needs a 'webhookUrl'")]
    return []


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# ---- pydantic's errors as violations: JSON Pointers into the body and stable codes

_CONSTRAINT_ERRORS = {"string_too_short", "string_too_long", "string_pattern_mismatch", "too_short", "too_long"}
_WEBHOOK_URL_RULE = f"the webhook URL is 1 to {MAX_WEBHOOK_URL_LENGTH} characters"
_WEBHOOK_SECRET_RULE = f"the webhook secret is 1 to {MAX_WEBHOOK_SECRET_LENGTH} characters"
_FIELD_CODES = {
    "id": ("invalid_job_id", JOB_ID_RULE),
    "dependsOn": ("invalid_job_id", JOB_ID_RULE),
    "dependencies": ("invalid_job_id", JOB_ID_RULE),
    "rootJobIds": ("invalid_job_id", JOB_ID_RULE),
    "operation": ("invalid_operation", OPERATION_RULE),
    "type": ("invalid_operation", OPERATION_RULE),
    "webhookUrl": ("invalid_webhook_url", _WEBHOOK_URL_RULE),
    "webhook": ("invalid_webhook_url", _WEBHOOK_URL_RULE),
    "url": ("invalid_webhook_url", _WEBHOOK_URL_RULE),
    "webhookSecret": ("invalid_webhook_secret", _WEBHOOK_SECRET_RULE),
    "secret": ("invalid_webhook_secret", _WEBHOOK_SECRET_RULE),
    "baseExecutionId": ("base_execution_not_found", "no execution with this id to build on"),
    "output": ("invalid_output", f"an output is at most {MAX_OUTPUT_LENGTH} characters"),
    "providerApiKeys": (
        "invalid_provider_api_key",
        f"provider names are 1 to {MAX_PROVIDER_NAME_LENGTH} of A-Z a-z 0-9 . _ : -, "
        f"keys 1 to {MAX_PROVIDER_KEY_LENGTH}",
    ),
}
_LOC_TAGS = {"webhook-object", "webhook-url", "[key]"}  # pydantic's names for union branches and dict keys


def _schema_violation(error: Mapping[str, Any]) -> Violation:
    loc = tuple(part for part in error.get("loc", ()) if part not in _LOC_TAGS)
    where = pointer(*loc)
    kind = str(error.get("type", "invalid_value"))
    names = [part for part in loc if isinstance(part, str)]
    field = names[-1] if names else ""
    if kind == "extra_forbidden":
        return Violation(where, "unknown_field", _unknown_field_message(field, loc[:-1]))
    if kind == "missing":
        return Violation(where, "missing_field", f"'{field}' is required")
    if "providerApiKeys" in names:
        return Violation(where, *_FIELD_CODES["providerApiKeys"])
    if kind in _CONSTRAINT_ERRORS and field in _FIELD_CODES:
        return Violation(where, *_FIELD_CODES[field])
    if kind.endswith("_type") or kind in {"model_attributes_type", "list_type", "dict_type"}:
        return Violation(where, "invalid_type", f"'{field or 'the body'}': {error.get('msg', 'wrong type')}")
    return Violation(where, kind, str(error.get("msg", "invalid value")))


def _unknown_field_message(field: str, parent: tuple[Any, ...]) -> str:
    here = _object_name(parent)
    elsewhere = [where for where, names in FIELDS_OF.items() if field in names and where != here]
    if elsewhere:
        return f"unknown field '{field}' in {here}; it belongs in {' or '.join(elsewhere)}"
    hint = difflib.get_close_matches(field, [n for n in FIELDS_OF.get(here, ()) if n != field], n=1)
    return f"unknown field '{field}' in {here}" + (f"; did you mean '{hint[0]}'?" if hint else "")


def _object_name(parent: tuple[Any, ...]) -> str:
    shape = tuple("#" if isinstance(part, int) else part for part in parent)
    return {
        (): "the body",
        ("executionPlan",): "executionPlan",
        ("executionPlan", "jobs", "#"): "a job",
        ("options",): "options",
        ("options", "webhook"): "options.webhook",
    }.get(shape, "this object")
