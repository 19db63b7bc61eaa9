"""The HTTP edge of the routes served by Powertools' resolver (submit, cancel): the resolver, the request
envelope, the caller's tenant; every error becomes RFC 9457 problem+json in `api.problems`. The status
function routes itself (execution_api.api.rest) and never loads this module."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from execution_api.api import cors, rest
from execution_api.api.paths import BASE_PATH_PREFIX, route_path
from execution_api.api.problems import problem_for
from execution_api.core.errors import (
    PROBLEM_JSON,
    MethodNotAllowed,
    PayloadTooLarge,
    RouteNotFound,
    UnsupportedMediaType,
)


def tenant_id(event: BaseProxyEvent) -> str:
    """The caller's tenant from the authorizer's context (execution_api.api.rest.tenant_id); 401 without one."""
    return rest.tenant_id(event.raw_event)


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
        methods = self.methods_of(route_path(str(event.get("path", ""))))
        return cors.around(event, methods, functools.partial(super().resolve, event, context))

    def methods_of(self, path: str) -> tuple[str, ...] | None:
        return next((methods for pattern, methods in self.allowed_methods if pattern.fullmatch(path)), None)


def create_app(methods: Mapping[str, Sequence[str]]) -> ExecutionApiResolver:
    """A REST (v1) resolver whose every error is problem+json. `methods` maps each route path (Powertools
    syntax, e.g. /api/execute/<id>/status) to the methods it takes: API Gateway sends the function ANY
    method, and any other gets 405 with Allow."""
    app = ExecutionApiResolver(methods)
    app.exception_handler(NotFoundError)(functools.partial(_on_route_not_found, app))
    app.exception_handler(Exception)(functools.partial(_on_error, app))
    return app


def _on_route_not_found(app: ExecutionApiResolver, _error: NotFoundError) -> Response[Any]:
    allowed = app.methods_of(route_path(app.current_event.path))
    return _on_error(app, MethodNotAllowed(allowed) if allowed else RouteNotFound())


def _on_error(app: ExecutionApiResolver, error: Exception) -> Response[Any]:
    problem = problem_for(error, app.current_event.request_context.request_id or "")
    return Response(status_code=problem.status, content_type=PROBLEM_JSON, body=problem.body, headers=problem.headers)
