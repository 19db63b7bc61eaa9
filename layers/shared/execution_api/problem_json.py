"""RFC 9457 problem+json answers: one error's body (type, title, status, detail, code), a plan's violations
listed (at most MAX_LISTED_VIOLATIONS), and every error status each route documents in OpenAPI."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response

from execution_api.errors import Violation
from execution_api.models.response import Problem

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://errors.execution-api.dev/"
MAX_LISTED_VIOLATIONS = 100  # keeps every answer far below Lambda's 6 MB response limit

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


# RFC 9110's names, the same on every Python: 3.13 renamed 422's phrase ("Unprocessable Entity" before).
_TITLES = {HTTPStatus.UNPROCESSABLE_ENTITY: "Unprocessable Content"}


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
    return Response(
        status_code=int(status),
        content_type=PROBLEM_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers,
    )


def violations_detail(violations: list[Violation]) -> str:
    """The first violation in words, and how many more: what an SDK user reads."""
    first = violations[0].message if violations else "the execution plan is invalid"
    more = len(violations) - 1
    return f"{first} (and {more} more)" if more > 0 else first
