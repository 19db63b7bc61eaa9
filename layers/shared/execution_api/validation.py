"""The one validation path of POST /api/execute: the body is parsed once, its structure and every
whole-plan rule are checked in the same pass, and all violations come back together.

Order, each step only if the previous passed: the body is JSON (400), the JSON is an object (400),
then schema, cross-field and plan rules (422, every violation listed).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr, ValidationError

from execution_api import exact_json
from execution_api.errors import MalformedRequest, PlanRejected, Violation
from execution_api.limits import (
    MAX_OUTPUT_LENGTH,
    MAX_PROVIDER_KEY_LENGTH,
    MAX_PROVIDER_NAME_LENGTH,
    MAX_WEBHOOK_SECRET_LENGTH,
    MAX_WEBHOOK_URL_LENGTH,
)
from execution_api.models.plan import ExecutionPlan, PlannedJob, WebhookTarget
from execution_api.models.request import FIELDS_OF, JOB_ID_RULE, OPERATION_RULE, SubmitExecutionRequest
from execution_api.plan_checks import PlanLimits, check_plan, pointer


def read_submission(
    body: str | None, is_base64_encoded: bool, limits: PlanLimits, *, allow_insecure_webhooks: bool = False
) -> tuple[dict[str, Any], ExecutionPlan]:
    """The body (`parse_body`) and its plan (`validate_submission`): what the submit route runs."""
    with _collector_paused():
        value = parse_body(body, is_base64_encoded)
        return value, validate_submission(value, limits, allow_insecure_webhooks=allow_insecure_webhooks)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsed JSON holds no reference cycles, so the cyclic garbage collector, triggered again and again
    by the objects of a large body, would walk them and free nothing: a third of a 10,000-job plan's
    time. Reference counting still frees everything; the collector resumes when the body is checked."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    try:
        SubmitExecutionRequest.model_validate(body)
        violations: list[Violation] = []
    except ValidationError as error:
        violations = [_schema_violation(e) for e in error.errors(include_url=False, include_input=False)]
    plan, conflicts = _read_plan(body)
    violations += conflicts
    if plan is not None:
        violations += check_plan(plan, limits, allow_insecure_webhooks=allow_insecure_webhooks)
    if violations:
        raise PlanRejected(_unique(violations))
    assert plan is not None  # a body that passed the schema always yields a plan
    return plan


def _unique(violations: list[Violation]) -> list[Violation]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for violation in violations:
        if (violation.pointer, violation.code) not in seen:
            seen.add((violation.pointer, violation.code))
            unique.append(violation)
    return unique


# ---- the plan, built from the body (best effort when the schema failed, so graph problems are
# ---- reported in the same answer)


def plan_from_body(body: Mapping[str, Any]) -> ExecutionPlan | None:
    """None when the jobs' shape is too broken to reason about (an id that is not a string, ...)."""
    return _read_plan(body)[0]


def field_conflicts(body: Mapping[str, Any]) -> list[Violation]:
    """The rules across fields: aliases given twice, a secret without a URL, two different base ids."""
    return _read_plan(body)[1]


def _read_plan(body: Mapping[str, Any]) -> tuple[ExecutionPlan | None, list[Violation]]:
    """The plan (as `plan_from_body`) and the conflicts between fields (as `field_conflicts`), in one pass
    over the jobs: the hot path of a large plan."""
    plan = body.get("executionPlan") if isinstance(body, Mapping) else None
    options = _object(body.get("options")) if isinstance(body, Mapping) else {}
    raw_jobs = plan.get("jobs") if isinstance(plan, dict) else None
    violations: list[Violation] = []
    jobs: list[PlannedJob] | None = [] if isinstance(raw_jobs, list) else None
    for index, raw in enumerate(raw_jobs if isinstance(raw_jobs, list) else ()):
        if not isinstance(raw, dict):
            jobs = None
            continue
        # The conflicts of a job, inline: the same rules and messages as before, without a set per job.
        has_operation, has_type = raw.get("operation") is not None, raw.get("type") is not None
        has_depends_on, has_dependencies = raw.get("dependsOn") is not None, raw.get("dependencies") is not None
        if (has_operation and has_type) or not (has_operation or has_type) or (has_depends_on and has_dependencies):
            violations += _job_conflicts(f"/executionPlan/jobs/{index}", raw)
        if jobs is not None:
            job = _job_from_body(index, raw)
            if job is None:
                jobs = None
            else:
                jobs.append(job)
    violations += _options_conflicts(options)
    base_in_plan = plan.get("baseExecutionId") if isinstance(plan, dict) else None
    base_in_options = options.get("baseExecutionId")
    if base_in_plan is not None and base_in_options is not None and base_in_plan != base_in_options:
        message = "executionPlan.baseExecutionId and options.baseExecutionId differ; give one, or the same id twice"
        violations.append(Violation("", "conflicting_fields", message))
    if jobs is None or not isinstance(plan, dict):
        return None, violations
    roots = plan.get("rootJobIds")
    keys = options.get("providerApiKeys")
    return ExecutionPlan(
        jobs=tuple(jobs),
        root_job_ids=tuple(roots) if isinstance(roots, list) and all(isinstance(r, str) for r in roots) else None,
        base_execution_id=_string(base_in_plan) or _string(options.get("baseExecutionId")),
        base_execution_pointer="/executionPlan/baseExecutionId" if base_in_plan else "/options/baseExecutionId",
        webhook=_webhook_from_options(options),
        provider_api_keys={k: SecretStr(v) for k, v in keys.items() if isinstance(v, str)}
        if isinstance(keys, dict)
        else {},
    ), violations


def _job_from_body(index: int, raw: dict[str, Any]) -> PlannedJob | None:
    job_id = raw.get("id")
    if not isinstance(job_id, str):
        return None
    depends_field = "dependencies" if "dependencies" in raw and "dependsOn" not in raw else "dependsOn"
    depends_on = raw.get(depends_field, [])
    params = raw.get("params", {})
    if not (isinstance(depends_on, list) and isinstance(params, dict)):
        return None
    for dependency in depends_on:
        if not isinstance(dependency, str):
            return None
    operation_field = "type" if "type" in raw and "operation" not in raw else "operation"
    operation = raw.get(operation_field)
    output = raw.get("output")
    return PlannedJob(
        index,
        job_id,
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


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# ---- rules across fields (aliases given twice, a secret without a URL, two different base ids)


def _job_conflicts(where: str, job: Mapping[str, Any]) -> list[Violation]:
    present = {name for name in ("operation", "type", "dependsOn", "dependencies") if job.get(name) is not None}
    problems = []
    if {"operation", "type"} <= present:
        problems.append(("conflicting_fields", "give either 'operation' or 'type' (its alias), not both"))
    if not {"operation", "type"} & present:
        problems.append(("missing_field", "'operation' (or its alias 'type') is required"))
    if {"dependsOn", "dependencies"} <= present:
        problems.append(("conflicting_fields", "give either 'dependsOn' or 'dependencies' (its alias), not both"))
    return [Violation(where, code, message) for code, message in problems]


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
# A job is a TypedDict and its params an InstanceOf[dict] (for speed, models.request): their type errors
# keep the wording a model and a dict field have always had.
_JOB_NOT_OBJECT = "Input should be a valid dictionary or instance of JobRequest"
_NOT_A_DICT = "Input should be a valid dictionary"


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
    if kind == "is_instance_of" or (kind == "dict_type" and loc[-2:-1] == ("jobs",)):
        message = _NOT_A_DICT if kind == "is_instance_of" else _JOB_NOT_OBJECT
        return Violation(where, "invalid_type", f"'{field}': {message}")
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
