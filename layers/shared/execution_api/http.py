"""The HTTP edge shared by the functions: the resolver, the request envelope, the caller's tenant,
CORS, and the one place where errors become RFC 9457 problem+json responses."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

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
    StorageUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    Violation,
)
from execution_api.models.response import Problem
from execution_api.observability import logger, metrics
from execution_api.settings import ApiSettings, load_settings

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://errors.execution-api.dev/"
RETRY_AFTER_SECONDS = "1"
MAX_LISTED_VIOLATIONS = 100  # keeps every answer far below Lambda's 6 MB response limit
CORS_ALLOW_HEADERS = "Authorization,Content-Type,Idempotency-Key,If-None-Match"
CORS_EXPOSE_HEADERS = "Location,Idempotent-Replayed,Retry-After,ETag"

# Every error status the API documents, for the OpenAPI document of each route.
PROBLEM_RESPONSES: dict[int, Any] = {
    status: {"description": description, "content": {PROBLEM_JSON: {"model": Problem}}}
    for status, description in (
        (400, "The body is not JSON, or not a JSON object; or the Idempotency-Key is malformed."),
        (401, "Missing or invalid API key."),
        (404, "No such execution (or route)."),
        (405, "The route does not take this method."),
        (409, "A request with this Idempotency-Key is still running, or the execution has already ended."),
        (413, "The body is larger than MAX_BODY_BYTES."),
        (415, "The body is not application/json."),
        (
            422,
            "The plan breaks rules (each listed in `errors`), or the Idempotency-Key came with another body.",
        ),
        (429, "Too many requests (the tenant's usage plan or the stage's throttle)."),
        (500, "An internal error; quote `instance` when reporting it."),
        (503, "DynamoDB or KMS is throttled or unavailable; retry after `Retry-After` seconds."),
    )
}

# API Gateway's own host for a REST API: <api id>.execute-api.<region>.amazonaws.com (.cn in China).
_DEFAULT_HOST = re.compile(r"[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?", re.IGNORECASE)
# Where the API's routes start in a request path: everything before is a custom domain's base path.
_ROUTES_START = re.compile(r"/api/execute(?:/|$)")
# For the resolver's strip_prefixes: a custom domain's base path (/v1/api/execute -> /api/execute).
BASE_PATH_PREFIX = re.compile(r"^/.+?(?=/api/execute(?:/|$))")

# (status, code, title) of the errors that need nothing but their message.
_SIMPLE_PROBLEMS: dict[type[ExecutionApiError], tuple[HTTPStatus, str, str | None]] = {
    UnsupportedMediaType: (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
    PayloadTooLarge: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "Content Too Large"),
    InvalidIdempotencyKey: (HTTPStatus.BAD_REQUEST, "invalid_idempotency_key", "Malformed request"),
    ExecutionNotFound: (HTTPStatus.NOT_FOUND, "execution_not_found", None),
    Unauthenticated: (HTTPStatus.UNAUTHORIZED, "unauthorized", None),
    IdempotencyKeyReused: (HTTPStatus.UNPROCESSABLE_ENTITY, "idempotency_key_reused", None),
    ExecutionAlreadyFinished: (HTTPStatus.CONFLICT, "execution_finished", None),
}


def public_base_path(event: BaseProxyEvent) -> str:
    """What comes before /api/... in the URL the client called, so links resolve there: on the default
    execute-api host the stage (/dev); behind a custom domain its base path (/v1, or nothing); under
    make run nothing."""
    context = event.raw_event.get("requestContext") or {}
    domain = str(context.get("domainName") or "")
    stage = context.get("stage")
    if _DEFAULT_HOST.fullmatch(domain) and isinstance(stage, str) and stage:
        return f"/{stage}"
    path = str(context.get("path") or event.path or "")
    found = _ROUTES_START.search(path)
    return path[: found.start()] if found else ""


def route_path(path: str) -> str:
    """The request path without a custom domain's base path, as the resolver matches it."""
    return BASE_PATH_PREFIX.sub("", path) or "/"


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
    """Powertools' REST resolver plus CORS for the configured origins only (a disallowed origin gets no
    CORS header at all), answered before routing so a preflight never needs an API key."""

    def __init__(self, methods: Mapping[str, Sequence[str]]) -> None:
        # strip_prefixes: behind a custom domain the path carries its base path (/v1/api/execute).
        super().__init__(strip_prefixes=[BASE_PATH_PREFIX])
        self.allowed_methods = [(re.compile(re.sub(r"<\w+>", "[^/]+", p)), tuple(m)) for p, m in methods.items()]

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        origin = _header(event, "origin")
        allowed = origin if origin and origin in load_settings(ApiSettings).cors_allow_origins else None
        if allowed and event.get("httpMethod") == "OPTIONS":
            methods = self.methods_of(route_path(str(event.get("path", ""))))
            if methods:
                return _preflight(allowed, methods)
        result = super().resolve(event, context)
        if allowed:
            headers = result.setdefault("headers", {}) or {}
            headers.update(
                {"Access-Control-Allow-Origin": allowed, "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS}
            )
            headers["Vary"] = "Origin"
            result["headers"] = headers
        return result

    def methods_of(self, path: str) -> tuple[str, ...] | None:
        return next((methods for pattern, methods in self.allowed_methods if pattern.fullmatch(path)), None)


def _header(event: Mapping[str, Any], name: str) -> str | None:
    return next((v for k, v in (event.get("headers") or {}).items() if k.lower() == name), None)


def _preflight(origin: str, methods: tuple[str, ...]) -> dict[str, Any]:
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ",".join((*methods, "OPTIONS")),
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }
    return {"statusCode": HTTPStatus.NO_CONTENT.value, "headers": headers, "body": "", "isBase64Encoded": False}


def create_app(methods: Mapping[str, Sequence[str]]) -> ExecutionApiResolver:
    """A REST (v1) resolver whose every error is problem+json. `methods` maps each route path (Powertools
    syntax, e.g. /api/execute/<id>/status) to the methods it takes: API Gateway sends the function ANY
    method, and any other gets 405 with Allow."""
    app = ExecutionApiResolver(methods)
    for exception_type, handler in _handlers(app).items():
        app.exception_handler(exception_type)(handler)
    return app


def _handlers(app: ExecutionApiResolver) -> dict[type[Exception], Callable[[Any], Response[Any]]]:
    def problem(status: HTTPStatus, code: str, detail: str, **extra: Any) -> Response[Any]:
        return problem_response(app.current_event.request_context.request_id or "", status, code, detail, **extra)

    def on_simple(error: ExecutionApiError) -> Response[Any]:
        status, code, title = _SIMPLE_PROBLEMS[type(error)]
        return problem(status, code, str(error), title=title)

    def on_malformed(error: MalformedRequest) -> Response[Any]:
        return problem(HTTPStatus.BAD_REQUEST, error.code, error.detail, title="Malformed request")

    def on_route_not_found(_error: NotFoundError) -> Response[Any]:
        allowed = app.methods_of(route_path(app.current_event.path))
        if allowed:
            return on_method_not_allowed(MethodNotAllowed(allowed))
        return problem(HTTPStatus.NOT_FOUND, "route_not_found", "no such route")

    def on_method_not_allowed(error: MethodNotAllowed) -> Response[Any]:
        allow = ", ".join(error.allowed)
        detail = f"this route takes {allow}"
        return problem(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", detail, headers={"Allow": allow})

    def on_in_flight(error: IdempotencyKeyInFlight) -> Response[Any]:
        headers = {"Retry-After": RETRY_AFTER_SECONDS}
        return problem(HTTPStatus.CONFLICT, "idempotency_key_in_flight", str(error), headers=headers)

    def on_unavailable(_error: Exception) -> Response[Any]:
        logger.warning("storage unavailable after retries", exc_info=True)
        detail = f"the service is busy or unavailable; nothing was stored, retry after {RETRY_AFTER_SECONDS} second(s)"
        return problem(
            HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable", detail, headers={"Retry-After": RETRY_AFTER_SECONDS}
        )

    def on_unexpected(_error: Exception) -> Response[Any]:
        logger.exception("unhandled error")  # the trace goes to the log only, never to the client
        detail = "an internal error occurred; quote the instance id when reporting it"
        return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", detail)

    def on_plan_rejected(error: PlanRejected) -> Response[Any]:
        _count_rejection(error.violations)
        return problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "validation_failed",
            _violations_detail(error.violations),
            slug="validation",
            title="Invalid execution plan",
            violations=error.violations,
        )

    handlers: dict[type[Exception], Callable[[Any], Response[Any]]] = dict.fromkeys(_SIMPLE_PROBLEMS, on_simple)
    handlers.update(
        {
            MalformedRequest: on_malformed,
            PlanRejected: on_plan_rejected,
            NotFoundError: on_route_not_found,
            MethodNotAllowed: on_method_not_allowed,
            IdempotencyKeyInFlight: on_in_flight,
            StorageUnavailable: on_unavailable,
            Exception: on_unexpected,
        }
    )
    return handlers


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
) -> Response[Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or code.replace("_", "-")),
        "title": title or status.phrase,
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
    return Response(
        status_code=int(status),
        content_type=PROBLEM_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers,
    )


def _violations_detail(violations: list[Violation]) -> str:
    """The first violation in words, and how many more: what an SDK user reads."""
    first = violations[0].message if violations else "the execution plan is invalid"
    more = len(violations) - 1
    return f"{first} (and {more} more)" if more > 0 else first


def _count_rejection(violations: list[Violation]) -> None:
    metrics.add_metric(name="PlansRejected", unit=MetricUnit.Count, value=1)
    for reason in sorted({v.code for v in violations}):
        # One metric per reason, as a dimension, so dashboards can split rejections by rule.
        with single_metric(
            name="PlanRejectionReasons", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="reason", value=reason)
