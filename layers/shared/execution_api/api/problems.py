"""RFC 9457 problem+json answers, the one place errors become them: which status and code each error gets,
one error's body (type, title, status, detail, code) and a plan's violations listed (at most
MAX_LISTED_VIOLATIONS); every error status each route documents in OpenAPI is
execution_api.models.response.PROBLEM_RESPONSES.

Nothing here loads Powertools' event handler or pydantic: the status function answers without them (a
shorter cold start); the resolver of the other routes turns a ProblemAnswer into its Response."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from execution_api.core.errors import (
    ExecutionAlreadyFinished,
    ExecutionApiError,
    ExecutionNotFound,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    MalformedRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    PlanRejected,
    ProviderKeyNotFound,
    ProviderNotFound,
    RouteNotFound,
    StorageUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    Violation,
)
from execution_api.core.observability import logger, metrics

PROBLEM_TYPE_BASE = "https://errors.execution-api.dev/"
MAX_LISTED_VIOLATIONS = 100  # keeps every answer far below Lambda's 6 MB response limit
RETRY_AFTER_SECONDS = "1"

# RFC 9110's names, the same on every Python: 3.13 renamed 422's phrase ("Unprocessable Entity" before).
_TITLES = {HTTPStatus.UNPROCESSABLE_ENTITY: "Unprocessable Content"}


@dataclass(frozen=True)
class ProblemAnswer:
    """A problem+json answer: its status, body and headers besides Content-Type (always PROBLEM_JSON)."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def problem_response(
    request_id: str,
    status: HTTPStatus,
    code: str,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    violations: list[Violation] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemAnswer:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or code.replace("_", "-")),
        "title": title or _TITLES.get(status, status.phrase),
        "status": int(status),
        "detail": detail,
        "code": code,
        "error": detail,  # the SDK shows only `error` (and `code`) to its users
        "instance": request_id,
    }
    if violations is not None:
        listed = violations[:MAX_LISTED_VIOLATIONS]
        body["errors"] = [{"pointer": v.pointer, "code": v.code, "message": v.message} for v in listed]
        if len(listed) < len(violations):
            body["errorCount"] = len(violations)
            body["errorsTruncated"] = True
    return ProblemAnswer(int(status), json.dumps(body, separators=(",", ":")), dict(headers or {}))


def violations_detail(violations: list[Violation]) -> str:
    """The first violation in words, and how many more: what an SDK user reads."""
    first = violations[0].message if violations else "the execution plan is invalid"
    more = len(violations) - 1
    return f"{first} (and {more} more)" if more > 0 else first


def problem_for(error: Exception, request_id: str) -> ProblemAnswer:
    """The answer to `error` (the handler of its closest class); anything unknown is a 500 whose trace goes
    to the log only."""
    handler = next(h for kind in type(error).__mro__ if (h := _HANDLERS.get(kind)) is not None)
    return handler(error, request_id)


# (status, code, title) of the errors that need nothing but their message.
_SIMPLE_PROBLEMS: dict[type[ExecutionApiError], tuple[HTTPStatus, str, str | None]] = {
    UnsupportedMediaType: (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
    PayloadTooLarge: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "Content Too Large"),
    InvalidIdempotencyKey: (HTTPStatus.BAD_REQUEST, "invalid_idempotency_key", "Malformed request"),
    ExecutionNotFound: (HTTPStatus.NOT_FOUND, "execution_not_found", None),
    RouteNotFound: (HTTPStatus.NOT_FOUND, "route_not_found", None),
    Unauthenticated: (HTTPStatus.UNAUTHORIZED, "unauthorized", None),
    IdempotencyKeyReused: (HTTPStatus.UNPROCESSABLE_ENTITY, "idempotency_key_reused", None),
    ExecutionAlreadyFinished: (HTTPStatus.CONFLICT, "execution_finished", None),
    ProviderNotFound: (HTTPStatus.NOT_FOUND, "provider_not_found", None),
    ProviderKeyNotFound: (HTTPStatus.NOT_FOUND, "provider_key_not_found", None),
}


def _on_simple(error: ExecutionApiError, request_id: str) -> ProblemAnswer:
    status, code, title = _SIMPLE_PROBLEMS[type(error)]
    return problem_response(request_id, status, code, str(error), title=title)


def _on_malformed(error: MalformedRequest, request_id: str) -> ProblemAnswer:
    return problem_response(request_id, HTTPStatus.BAD_REQUEST, error.code, error.detail, title="Malformed request")


def _on_method_not_allowed(error: MethodNotAllowed, request_id: str) -> ProblemAnswer:
    allow = ", ".join(error.allowed)
    detail = f"this route takes {allow}"
    status = HTTPStatus.METHOD_NOT_ALLOWED
    return problem_response(request_id, status, "method_not_allowed", detail, headers={"Allow": allow})


def _on_in_flight(error: IdempotencyKeyInFlight, request_id: str) -> ProblemAnswer:
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return problem_response(request_id, HTTPStatus.CONFLICT, "idempotency_key_in_flight", str(error), headers=headers)


def _on_unavailable(_error: Exception, request_id: str) -> ProblemAnswer:
    logger.warning("storage unavailable after retries", exc_info=True)
    detail = f"the service is busy or unavailable; nothing was stored, retry after {RETRY_AFTER_SECONDS} second(s)"
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    status = HTTPStatus.SERVICE_UNAVAILABLE
    return problem_response(request_id, status, "service_unavailable", detail, headers=headers)


def _on_unexpected(_error: Exception, request_id: str) -> ProblemAnswer:
    logger.exception("unhandled error")  # the trace goes to the log only, never to the client
    detail = "an internal error occurred; quote the instance id when reporting it"
    return problem_response(request_id, HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", detail)


def _on_plan_rejected(error: PlanRejected, request_id: str) -> ProblemAnswer:
    _count_rejection(error.violations)
    return problem_response(
        request_id,
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "validation_failed",
        violations_detail(error.violations),
        slug="validation",
        title="Invalid execution plan",
        violations=error.violations,
    )


def _count_rejection(violations: list[Violation]) -> None:
    metrics.add_metric(name="PlansRejected", unit=MetricUnit.Count, value=1)
    for reason in sorted({v.code for v in violations}):
        # One metric per reason, as a dimension, so dashboards can split rejections by rule.
        with single_metric(
            name="PlanRejectionReasons", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="reason", value=reason)


# Which handler answers each error; Exception last: anything else is a 500 with its trace in the log only.
_HANDLERS: dict[type[Exception], Callable[[Any, str], ProblemAnswer]] = {
    **dict.fromkeys(_SIMPLE_PROBLEMS, _on_simple),
    MalformedRequest: _on_malformed,
    PlanRejected: _on_plan_rejected,
    MethodNotAllowed: _on_method_not_allowed,
    IdempotencyKeyInFlight: _on_in_flight,
    StorageUnavailable: _on_unavailable,
    Exception: _on_unexpected,
}
