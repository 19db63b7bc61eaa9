"""The HTTP edge shared by the functions: the resolver, the request envelope, the caller's tenant, and
the one place where errors become RFC 9457 problem+json responses (rendered by `problem_json`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from execution_api import cors
from execution_api.errors import (
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
    StorageUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    Violation,
)
from execution_api.observability import logger, metrics
from execution_api.problem_json import problem_response, violations_detail
from execution_api.public_paths import BASE_PATH_PREFIX, route_path

RETRY_AFTER_SECONDS = "1"

# (status, code, title) of the errors that need nothing but their message.
_SIMPLE_PROBLEMS: dict[type[ExecutionApiError], tuple[HTTPStatus, str, str | None]] = {
    UnsupportedMediaType: (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
    PayloadTooLarge: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "Content Too Large"),
    InvalidIdempotencyKey: (HTTPStatus.BAD_REQUEST, "invalid_idempotency_key", "Malformed request"),
    ExecutionNotFound: (HTTPStatus.NOT_FOUND, "execution_not_found", None),
    Unauthenticated: (HTTPStatus.UNAUTHORIZED, "unauthorized", None),
    IdempotencyKeyReused: (HTTPStatus.UNPROCESSABLE_ENTITY, "idempotency_key_reused", None),
    ExecutionAlreadyFinished: (HTTPStatus.CONFLICT, "execution_finished", None),
    ProviderNotFound: (HTTPStatus.NOT_FOUND, "provider_not_found", None),
    ProviderKeyNotFound: (HTTPStatus.NOT_FOUND, "provider_key_not_found", None),
}


def tenant_id(event: BaseProxyEvent) -> str:
    """The caller's tenant, put into the request by the authorizer. None there means the request did
    not pass the authorizer: refused (fail closed). `make run` and `make invoke` supply 'local' themselves."""
    authorizer = (event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    tenant = authorizer.get("tenantId")
    if not isinstance(tenant, str) or not tenant:
        raise Unauthenticated("this request carries no tenant from the authorizer")
    return tenant


def check_envelope(event: BaseProxyEvent, max_body_bytes: int) -> None:
    """413 over MAX_BODY_BYTES whatever the body holds, then 415 unless the body is declared JSON."""
    if _body_size(event) > max_body_bytes:
        raise PayloadTooLarge(max_body_bytes)
    content_type = (event.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("the body must be sent as Content-Type: application/json")


def _body_size(event: BaseProxyEvent) -> int:
    """Bytes in the body, without decoding it as text (it may not be valid UTF-8)."""
    body = event.body or ""
    if event.is_base64_encoded:
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(body.encode("utf-8", errors="surrogatepass"))


class ExecutionApiResolver(APIGatewayRestResolver):
    """Powertools' REST resolver plus CORS for the configured origins only, answered before routing so a
    preflight never needs an API key; it knows the methods each route takes (for 405 and preflights)."""

    def __init__(self, methods: Mapping[str, Sequence[str]]) -> None:
        # strip_prefixes: behind a custom domain the path carries its base path (/v1/api/execute).
        super().__init__(strip_prefixes=[BASE_PATH_PREFIX])
        self.allowed_methods = [(re.compile(re.sub(r"<\w+>", "[^/]+", p)), tuple(m)) for p, m in methods.items()]

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        origin = cors.allowed_origin(event)
        if origin and event.get("httpMethod") == "OPTIONS":
            methods = self.methods_of(route_path(str(event.get("path", ""))))
            if methods:
                return cors.preflight(origin, methods)
        result = super().resolve(event, context)
        return cors.add_cors_headers(result, origin) if origin else result

    def methods_of(self, path: str) -> tuple[str, ...] | None:
        return next((methods for pattern, methods in self.allowed_methods if pattern.fullmatch(path)), None)


def create_app(methods: Mapping[str, Sequence[str]]) -> ExecutionApiResolver:
    """A REST (v1) resolver whose every error is problem+json. `methods` maps each route path (Powertools
    syntax, e.g. /api/execute/<id>/status) to the methods it takes: API Gateway sends the function ANY
    method, and any other gets 405 with Allow."""
    app = ExecutionApiResolver(methods)
    for exception_type, handler in _HANDLERS.items():
        app.exception_handler(exception_type)(functools.partial(handler, app))
    return app


def _problem(app: ExecutionApiResolver, status: HTTPStatus, code: str, detail: str, **extra: Any) -> Response[Any]:
    return problem_response(app.current_event.request_context.request_id or "", status, code, detail, **extra)


def _on_simple(app: ExecutionApiResolver, error: ExecutionApiError) -> Response[Any]:
    status, code, title = _SIMPLE_PROBLEMS[type(error)]
    return _problem(app, status, code, str(error), title=title)


def _on_malformed(app: ExecutionApiResolver, error: MalformedRequest) -> Response[Any]:
    return _problem(app, HTTPStatus.BAD_REQUEST, error.code, error.detail, title="Malformed request")


def _on_route_not_found(app: ExecutionApiResolver, _error: NotFoundError) -> Response[Any]:
    allowed = app.methods_of(route_path(app.current_event.path))
    if allowed:
        return _on_method_not_allowed(app, MethodNotAllowed(allowed))
    return _problem(app, HTTPStatus.NOT_FOUND, "route_not_found", "no such route")


def _on_method_not_allowed(app: ExecutionApiResolver, error: MethodNotAllowed) -> Response[Any]:
    allow = ", ".join(error.allowed)
    detail = f"this route takes {allow}"
    return _problem(app, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", detail, headers={"Allow": allow})


def _on_in_flight(app: ExecutionApiResolver, error: IdempotencyKeyInFlight) -> Response[Any]:
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return _problem(app, HTTPStatus.CONFLICT, "idempotency_key_in_flight", str(error), headers=headers)


def _on_unavailable(app: ExecutionApiResolver, _error: Exception) -> Response[Any]:
    logger.warning("storage unavailable after retries", exc_info=True)
    detail = f"the service is busy or unavailable; nothing was stored, retry after {RETRY_AFTER_SECONDS} second(s)"
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return _problem(app, HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable", detail, headers=headers)


def _on_unexpected(app: ExecutionApiResolver, _error: Exception) -> Response[Any]:
    logger.exception("unhandled error")  # the trace goes to the log only, never to the client
    detail = "an internal error occurred; quote the instance id when reporting it"
    return _problem(app, HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", detail)


def _on_plan_rejected(app: ExecutionApiResolver, error: PlanRejected) -> Response[Any]:
    _count_rejection(error.violations)
    return _problem(
        app,
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
_HANDLERS: dict[type[Exception], Callable[[ExecutionApiResolver, Any], Response[Any]]] = {
    **dict.fromkeys(_SIMPLE_PROBLEMS, _on_simple),
    MalformedRequest: _on_malformed,
    PlanRejected: _on_plan_rejected,
    NotFoundError: _on_route_not_found,
    MethodNotAllowed: _on_method_not_allowed,
    IdempotencyKeyInFlight: _on_in_flight,
    StorageUnavailable: _on_unavailable,
    Exception: _on_unexpected,
}
