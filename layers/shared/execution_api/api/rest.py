"""The answer of a REST (v1) function that routes itself, without Powertools' event handler (importing it
loads every resolver and event class: about 50 ms of the status function's cold start, docs/deployment.md).
A route function returns Lambda's proxy result or raises; errors become problem+json in api.problems, CORS
is added as for the resolver's routes, and the result has the resolver's shape (multiValueHeaders)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from execution_api.api import cors
from execution_api.api.paths import route_path
from execution_api.api.problems import problem_for
from execution_api.core.errors import PROBLEM_JSON, MethodNotAllowed, RouteNotFound, Unauthenticated

Route = Callable[[Mapping[str, Any], str], dict[str, Any]]


def tenant_id(event: Mapping[str, Any]) -> str:
    """The caller's tenant, put into the request by the authorizer. None there means the request did
    not pass the authorizer: refused (fail closed). `make run` and `make invoke` supply 'local' themselves."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    tenant = authorizer.get("tenantId")
    if not isinstance(tenant, str) or not tenant:
        raise Unauthenticated("this request carries no tenant from the authorizer")
    return tenant


def result(status: int, body: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """Lambda's proxy result, each header as a one-line list (as Powertools' REST resolver answers)."""
    return {
        "statusCode": status,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "body": body,
        "isBase64Encoded": False,
    }


def answer(event: Mapping[str, Any], path: re.Pattern[str], methods: tuple[str, ...], route: Route) -> dict[str, Any]:
    """`route(event, its path parameter)` for a path that `path` matches (after any custom domain's base path)
    and a method of `methods`; 404 for another path, 405 with Allow for another method, CORS around it all."""
    match = path.fullmatch(route_path(str(event.get("path") or "")))
    return cors.around(event, methods if match else None, lambda: _answer(event, match, methods, route))


def _answer(
    event: Mapping[str, Any], match: re.Match[str] | None, methods: tuple[str, ...], route: Route
) -> dict[str, Any]:
    try:
        if match is None:
            raise RouteNotFound
        if event.get("httpMethod") not in methods:
            raise MethodNotAllowed(methods)
        return route(event, match.group(1))
    except Exception as error:  # every error is an answer; problem_for logs the unexpected ones
        request_id = str((event.get("requestContext") or {}).get("requestId") or "")
        problem = problem_for(error, request_id)
        return result(problem.status, problem.body, {**problem.headers, "Content-Type": PROBLEM_JSON})
