"""Domain errors. `execution_api.api.resolver` is the one place that turns them into responses."""

from __future__ import annotations

import re
from dataclasses import dataclass

PROBLEM_JSON = "application/problem+json"  # the media type every error is answered in (RFC 9457)
EXECUTION_ID = re.compile(r"[A-Za-z0-9_-]{21}")  # nanoid's default size and URL-safe alphabet


@dataclass(frozen=True)
class Violation:
    """One problem in a request body: where (RFC 6901 JSON Pointer), a stable code, and why."""

    pointer: str
    code: str
    message: str


class ExecutionApiError(Exception):
    """Base of every error the API answers deliberately."""


class MalformedRequest(ExecutionApiError):
    """400: the body is not JSON, or not a JSON object."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class InvalidIdempotencyKey(ExecutionApiError):
    """400: the Idempotency-Key header is not 1 to MAX_IDEMPOTENCY_KEY_LENGTH visible ASCII characters."""


class UnsupportedMediaType(ExecutionApiError):
    """415: the body is not declared as application/json."""


class PayloadTooLarge(ExecutionApiError):
    """413: the body is larger than MAX_BODY_BYTES."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class PlanRejected(ExecutionApiError):
    """422: the plan breaks one or more rules; every violation is listed."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(f"{len(violations)} problem(s) in the execution plan")
        self.violations = violations


class ExecutionNotFound(ExecutionApiError):
    """404: no such execution for this tenant. The message says so in words (the SDK shows only `error`);
    an id that cannot be an execution id is not echoed back."""

    def __init__(self, execution_id: str) -> None:
        if EXECUTION_ID.fullmatch(execution_id):
            super().__init__(f"no execution '{execution_id}' was found")
        else:
            super().__init__("no execution was found: an execution id is 21 characters of A-Z a-z 0-9 _ -")
        self.execution_id = execution_id


def check_execution_id(execution_id: str) -> str:
    """Every route's first check of the id in its path: one that cannot exist is a 404 before any read
    (DynamoDB refuses a key over its size limit with an error, which would be a 500)."""
    if not EXECUTION_ID.fullmatch(execution_id):
        raise ExecutionNotFound(execution_id)
    return execution_id


class ExecutionAlreadyFinished(ExecutionApiError):
    """409: the execution is already completed, failed or cancelled (a cancel comes too late)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the execution is already {status}")
        self.status = status


class MethodNotAllowed(ExecutionApiError):
    """405: the route exists but not with this method."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__("method not allowed")
        self.allowed = allowed


class RouteNotFound(ExecutionApiError):
    """404: no route of this function has the path."""

    def __init__(self) -> None:
        super().__init__("no such route")


class StorageUnavailable(ExecutionApiError):
    """503: DynamoDB (or KMS) throttled or failed after boto3's own retries; retrying helps."""


class Unauthenticated(ExecutionApiError):
    """401: the request did not come through the authorizer (fail closed)."""


class IdempotencyKeyReused(ExecutionApiError):
    """422: this Idempotency-Key was used with a different body."""


class IdempotencyKeyInFlight(ExecutionApiError):
    """409: a request with this Idempotency-Key is still running."""


class ProviderNotFound(ExecutionApiError):
    """404: /api/provider-keys/{provider} names no provider this deployment runs (or one shut down)."""


class ProviderKeyNotFound(ExecutionApiError):
    """404: the tenant stored no key for this provider."""
