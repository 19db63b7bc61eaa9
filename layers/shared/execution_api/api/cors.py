"""CORS for the configured origins only: which origin may read the answer (a disallowed one gets no CORS
header at all), the preflight answer, and the headers added to every other answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Self

from execution_api.core.environment import load_settings, names_variable

CORS_ALLOW_HEADERS = "Authorization,Content-Type,Idempotency-Key,If-None-Match"
CORS_EXPOSE_HEADERS = "Location,Idempotent-Replayed,Retry-After,ETag"


@dataclass(frozen=True)
class CorsSettings:
    """Browser origins allowed by CORS (CORS_ALLOW_ORIGINS, comma-separated); none: no CORS headers at all.
    Read without pydantic: the status function's cold start loads none (execution_api.core.environment)."""

    cors_allow_origins: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls) -> Self:
        return cls(cors_allow_origins=names_variable("CORS_ALLOW_ORIGINS"))


def allowed_origin(event: Mapping[str, Any]) -> str | None:
    """The request's Origin when it is one of the configured origins, else None."""
    origin = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "origin"), None)
    return origin if origin and origin in load_settings(CorsSettings).cors_allow_origins else None


def preflight(origin: str, methods: tuple[str, ...]) -> dict[str, Any]:
    """The answer to an OPTIONS preflight from an allowed origin for a route that takes `methods`."""
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ",".join((*methods, "OPTIONS")),
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }
    return {"statusCode": HTTPStatus.NO_CONTENT.value, "headers": headers, "body": "", "isBase64Encoded": False}


def add_cors_headers(result: dict[str, Any], origin: str) -> dict[str, Any]:
    """The resolver's answer with the headers that let the allowed origin read it."""
    headers = result.setdefault("headers", {}) or {}
    headers.update({"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS})
    headers["Vary"] = "Origin"
    result["headers"] = headers
    return result


def around(
    event: Mapping[str, Any], methods: tuple[str, ...] | None, answer: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """`answer()` with CORS for an allowed origin; a preflight of a route that takes `methods` (None: no such
    route) is answered here, before routing, so it never needs an API key."""
    origin = allowed_origin(event)
    if origin and methods and event.get("httpMethod") == "OPTIONS":
        return preflight(origin, methods)
    result = answer()
    return add_cors_headers(result, origin) if origin else result
