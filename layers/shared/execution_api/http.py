"""The HTTP edge shared by every function: the resolver, request envelope checks, and the one
place where errors become RFC 9457 problem+json responses."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from execution_api.errors import (
    ExecutionAlreadyFinished,
    ExecutionNotFound,
    InvalidIdempotencyKey,
    MalformedRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    PlanRejected,
    StorageUnavailable,
    UnsupportedMediaType,
    Violation,
)
from execution_api.idempotency import idempotency_key
from execution_api.models.request import FIELD_NAMES, field_conflicts
from execution_api.models.response import Problem
from execution_api.observability import logger, metrics
from execution_api.plan_checks import PlanLimits, check_plan, plan_from_raw_body, pointer
from execution_api.settings import get_settings

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://errors.execution-api.dev/"
RETRY_AFTER_SECONDS = "1"
LOCAL_TENANT = "local"
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

# Fields the SDK may send that this service deliberately does not take, with the reason.
UNSUPPORTED_FIELDS = {
    "providerApiKeys": "provider API keys are not accepted: this service never stores provider "
    "credentials; configure them where the workers run",
}

# Every error status the API documents, for the OpenAPI document of each route.
PROBLEM_RESPONSES: dict[int, Any] = {
    status: {"description": description, "content": {PROBLEM_JSON: {"model": Problem}}}
    for status, description in (
        (400, "The body is not JSON, or not a JSON object; or the Idempotency-Key is malformed."),
        (401, "Missing or invalid API key (when authentication is on)."),
        (404, "No such execution (or route)."),
        (405, "The route does not take this method."),
        (
            409,
            "A request with this Idempotency-Key is still running (retry after `Retry-After` seconds); or, for a "
            "cancel, the execution is already finished.",
        ),
        (413, "The body is larger than MAX_BODY_BYTES."),
        (415, "The body is not application/json."),
        (
            422,
            "The plan breaks rules (each listed in `errors`), or the Idempotency-Key came with another body.",
        ),
        (429, "Too many requests (stage throttling)."),
        (500, "An internal error; quote `instance` when reporting it."),
        (503, "DynamoDB or KMS is throttled or unavailable; retry after `Retry-After` seconds."),
    )
}


def tenant_id(event: BaseProxyEvent) -> str:
    """The caller's tenant, from the authorizer's context once authentication exists; 'local' until then."""
    authorizer = (event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    tenant = authorizer.get("tenantId")
    return tenant if isinstance(tenant, str) and tenant else LOCAL_TENANT


def check_json_envelope(event: BaseProxyEvent) -> None:
    """415 unless the body is declared JSON; 413 over MAX_BODY_BYTES; 400 for a malformed Idempotency-Key.
    Runs before any schema error counts."""
    content_type = (event.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("the body must be sent as Content-Type: application/json")
    limit = get_settings().max_body_bytes
    if _body_size(event) > limit:
        raise PayloadTooLarge(limit)
    idempotency_key(event.headers)


def _body_size(event: BaseProxyEvent) -> int:
    """Bytes in the body, without decoding it as text (it may not be valid UTF-8)."""
    body = event.body or ""
    if event.is_base64_encoded:
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(body.encode("utf-8", errors="surrogatepass"))


def require_json_body(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Route middleware: the envelope checks for requests whose body passed schema validation."""
    check_json_envelope(app.current_event)
    return next_middleware(app)


class ExecutionApiResolver(APIGatewayRestResolver):
    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return super().resolve(_lowercase_content_type(event), context)


def _canonical_content_type(value: str) -> str:
    # Media types are case-insensitive (RFC 9110), Powertools' JSON check is not. Anything but JSON is
    # a 415 here, so Powertools must not try to parse it as a form or multipart body first.
    lowered = value.lower()
    return lowered if lowered.split(";", 1)[0].strip() == "application/json" else "application/octet-stream"


def _lowercase_content_type(event: Mapping[str, Any]) -> dict[str, Any]:
    def lowered(headers: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if headers is None:
            return None
        return {
            name: (
                _canonical_content_type(value)
                if isinstance(value, str)
                else [_canonical_content_type(v) for v in value]
            )
            if name.lower() == "content-type"
            else value
            for name, value in headers.items()
        }

    return {
        **event,
        "headers": lowered(event.get("headers")),
        "multiValueHeaders": lowered(event.get("multiValueHeaders")),
    }


def strict_json(text: str) -> Any:
    """json.loads for request bodies, refusing what is not interoperable JSON (RFC 8259): NaN and
    Infinity, numbers Python will not parse, and lone surrogates (they cannot be stored as UTF-8).
    Every refusal is a JSONDecodeError, so it is a 400 malformed_json like any broken JSON."""

    def no_constant(name: str) -> Any:
        raise json.JSONDecodeError(f"{name} is not JSON", text, 0)

    def finite(number: str) -> float:
        value = float(number)
        if math.isinf(value):  # 1e999 would be stored as Infinity, which is not JSON
            raise json.JSONDecodeError("number out of range", text, 0)
        return value

    try:
        value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    except json.JSONDecodeError:
        raise
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise json.JSONDecodeError(str(error), text, 0) from error
    if "\\u" in text.lower():  # only an escape can carry a lone surrogate: check those bodies
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as error:
            raise json.JSONDecodeError("lone surrogate in a string", text, 0) from error
    return value


def create_app(methods: Mapping[str, Sequence[str]] | None = None) -> APIGatewayRestResolver:
    """A REST (v1) resolver with request validation and every error mapped to problem+json.

    `methods` maps each route path (Powertools syntax, e.g. /api/execute/<id>/status) to the methods it
    takes: API Gateway sends the function ANY method, and any other method gets 405 with Allow."""
    app = ExecutionApiResolver(enable_validation=True, json_body_deserializer=strict_json)
    allowed_methods = [(re.compile(re.sub(r"<\w+>", "[^/]+", path)), tuple(m)) for path, m in (methods or {}).items()]

    def problem(
        status: HTTPStatus,
        code: str,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: list[Violation] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response[Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + (slug or code.replace("_", "-")),
            "title": title or status.phrase,
            "status": int(status),
            "detail": detail,
            "code": code,
            "error": detail,
            "instance": app.current_event.request_context.request_id or "",
        }
        if errors is not None:
            body["errors"] = [{"pointer": v.pointer, "code": v.code, "message": v.message} for v in errors]
        return Response(
            status_code=int(status),
            content_type=PROBLEM_JSON,
            body=json.dumps(body, separators=(",", ":")),
            headers=headers,
        )

    def plan_rejected(violations: list[Violation]) -> Response[Any]:
        metrics.add_metric(name="PlansRejected", unit=MetricUnit.Count, value=1)
        for reason in sorted({v.code for v in violations}):
            # One metric per reason, as a dimension, so dashboards can split rejections by rule.
            with single_metric(
                name="PlanRejectionReasons", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
            ) as metric:
                metric.add_dimension(name="reason", value=reason)
        count = len(violations)
        return problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "validation_failed",
            f"{count} problem{'s' if count != 1 else ''} in the execution plan",
            slug="validation",
            title="Invalid execution plan",
            errors=violations,
        )

    def envelope_problem() -> Response[Any] | None:
        try:
            check_json_envelope(app.current_event)
        except (UnsupportedMediaType, PayloadTooLarge, InvalidIdempotencyKey) as error:
            return handlers[type(error)](error)
        return None

    def on_schema_errors(error: RequestValidationError) -> Response[Any]:
        early = envelope_problem()
        if early is not None:
            return early
        errors = list(error.errors())
        if not app.current_event.body:
            return on_malformed(MalformedRequest("malformed_json", "the body is empty; send a JSON object"))
        if any(e.get("type") == "json_invalid" for e in errors):
            return on_malformed(MalformedRequest("malformed_json", "the body is not valid JSON"))
        if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") in _NOT_AN_OBJECT for e in errors):
            return on_malformed(MalformedRequest("body_not_object", "the body must be a JSON object"))
        body = app.current_event.json_body
        violations = schema_violations(errors)
        plan = plan_from_raw_body(body)
        more = field_conflicts(body)
        if plan is not None:
            more += check_plan(plan, PlanLimits.from_settings(get_settings()))
        seen = {(v.pointer, v.code) for v in violations}
        for violation in more:
            if (violation.pointer, violation.code) not in seen:
                seen.add((violation.pointer, violation.code))
                violations.append(violation)
        return plan_rejected(violations)

    def on_unsupported_content_type(_error: RequestUnsupportedContentType) -> Response[Any]:
        return envelope_problem() or on_unsupported_media_type(
            UnsupportedMediaType("send the body as application/json")
        )

    def on_malformed(error: MalformedRequest) -> Response[Any]:
        return problem(HTTPStatus.BAD_REQUEST, error.code, error.detail, title="Malformed request")

    def on_not_utf8(_error: UnicodeDecodeError) -> Response[Any]:
        early = envelope_problem()
        return early or on_malformed(MalformedRequest("malformed_json", "the body is not valid UTF-8 JSON"))

    def on_too_deep(_error: RecursionError) -> Response[Any]:
        # json.loads recurses per nesting level: a body nested thousands deep is malformed for us.
        return on_malformed(MalformedRequest("malformed_json", "the body is nested too deeply"))

    def on_unsupported_media_type(error: UnsupportedMediaType) -> Response[Any]:
        return problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", str(error))

    def on_too_large(error: PayloadTooLarge) -> Response[Any]:
        return problem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", str(error), title="Content Too Large")

    def on_invalid_idempotency_key(error: InvalidIdempotencyKey) -> Response[Any]:
        return problem(HTTPStatus.BAD_REQUEST, "invalid_idempotency_key", str(error), title="Malformed request")

    def on_idempotency_key_reused(_error: IdempotencyValidationError) -> Response[Any]:
        return problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different body; use a new key for a new request",
        )

    def on_idempotency_key_in_flight(_error: IdempotencyAlreadyInProgressError) -> Response[Any]:
        return problem(
            HTTPStatus.CONFLICT,
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed; retry shortly to get its answer",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    def on_plan_rejected(error: PlanRejected) -> Response[Any]:
        return plan_rejected(error.violations)

    def on_execution_not_found(_error: ExecutionNotFound) -> Response[Any]:
        return problem(HTTPStatus.NOT_FOUND, "execution_not_found", "no execution with this id")

    def on_execution_finished(error: ExecutionAlreadyFinished) -> Response[Any]:
        return problem(HTTPStatus.CONFLICT, "execution_finished", str(error))

    def on_route_not_found(_error: NotFoundError) -> Response[Any]:
        path = app.current_event.path
        for pattern, allowed in allowed_methods:
            if pattern.fullmatch(path):
                return on_method_not_allowed(MethodNotAllowed(allowed))
        return problem(HTTPStatus.NOT_FOUND, "route_not_found", "no such route")

    def on_method_not_allowed(error: MethodNotAllowed) -> Response[Any]:
        allow = ", ".join(error.allowed)
        return problem(
            HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"this route takes {allow}", headers={"Allow": allow}
        )

    def on_unavailable(_error: Exception) -> Response[Any]:
        logger.warning("storage unavailable after retries", exc_info=True)
        return problem(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "service_unavailable",
            f"the service is busy or unavailable; nothing was stored, retry after {RETRY_AFTER_SECONDS} second(s)",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    def on_unexpected(_error: Exception) -> Response[Any]:
        logger.exception("unhandled error")  # the trace goes to the log only, never to the client
        return problem(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred; quote the instance id when reporting it",
        )

    handlers: dict[type[Exception], Callable[[Any], Response[Any]]] = {
        RequestValidationError: on_schema_errors,
        RequestUnsupportedContentType: on_unsupported_content_type,
        MalformedRequest: on_malformed,
        RecursionError: on_too_deep,
        UnicodeDecodeError: on_not_utf8,
        UnsupportedMediaType: on_unsupported_media_type,
        PayloadTooLarge: on_too_large,
        PlanRejected: on_plan_rejected,
        InvalidIdempotencyKey: on_invalid_idempotency_key,
        IdempotencyValidationError: on_idempotency_key_reused,
        IdempotencyAlreadyInProgressError: on_idempotency_key_in_flight,
        # The idempotency table throttled or unreachable, or a record caught mid-expiry: retrying helps.
        IdempotencyPersistenceLayerError: on_unavailable,
        IdempotencyInconsistentStateError: on_unavailable,
        ExecutionNotFound: on_execution_not_found,
        ExecutionAlreadyFinished: on_execution_finished,
        NotFoundError: on_route_not_found,
        MethodNotAllowed: on_method_not_allowed,
        StorageUnavailable: on_unavailable,
        Exception: on_unexpected,
    }
    for exception_type, handler in handlers.items():
        app.exception_handler(exception_type)(handler)
    return app


def schema_violations(errors: Iterable[dict[str, Any]]) -> list[Violation]:
    """pydantic's errors as violations with JSON Pointers into the body and stable codes."""
    return [_schema_violation(error) for error in errors]


_NOT_AN_OBJECT = {"missing", "model_type", "model_attributes_type", "dict_type"}  # at the body itself
_CONSTRAINT_ERRORS = {"string_too_short", "string_too_long", "string_pattern_mismatch", "too_short", "too_long"}
_FIELD_CODES = {
    "id": ("invalid_job_id", "job ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"),
    "dependsOn": ("invalid_job_id", "job ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"),
    "dependencies": ("invalid_job_id", "job ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"),
    "rootJobIds": ("invalid_job_id", "job ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"),
    "operation": ("invalid_operation", "an operation is 1 to 64 characters: a letter, then letters, digits, _ . : -"),
    "type": ("invalid_operation", "an operation is 1 to 64 characters: a letter, then letters, digits, _ . : -"),
    "webhookUrl": ("invalid_webhook_url", "the webhook URL is 1 to 2048 characters"),
    "url": ("invalid_webhook_url", "the webhook URL is 1 to 2048 characters"),
    "webhookSecret": ("invalid_webhook_secret", "the webhook secret is 1 to 512 characters"),
    "secret": ("invalid_webhook_secret", "the webhook secret is 1 to 512 characters"),
    "baseExecutionId": ("base_execution_not_found", "no execution with this id to build on"),
    "output": ("invalid_output", "an output is at most 256 characters"),
}


def _schema_violation(error: dict[str, Any]) -> Violation:
    loc = tuple(error.get("loc", ()))
    if loc[:1] == ("body",):
        loc = loc[1:]
    where = pointer(*loc)
    kind = str(error.get("type", "invalid_value"))
    names = [part for part in loc if isinstance(part, str)]
    field = names[-1] if names else ""
    if kind == "extra_forbidden":
        if field in UNSUPPORTED_FIELDS:
            return Violation(where, "unsupported_field", f"'{field}' is not supported: {UNSUPPORTED_FIELDS[field]}")
        hint = difflib.get_close_matches(field, FIELD_NAMES, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return Violation(where, "unknown_field", f"unknown field '{field}'{suggestion}")
    if kind == "missing":
        return Violation(where, "missing_field", f"'{field}' is required")
    if kind in _CONSTRAINT_ERRORS and field in _FIELD_CODES:
        code, message = _FIELD_CODES[field]
        return Violation(where, code, message)
    if kind.endswith("_type") or kind in {"model_attributes_type", "list_type", "dict_type"}:
        return Violation(where, "invalid_type", str(error.get("msg", "wrong type")))
    # Our own PydanticCustomError codes (conflicting_fields, ...) and anything else pydantic reports.
    return Violation(where, kind, str(error.get("msg", "invalid value")))
