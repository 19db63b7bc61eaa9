"""Where the API's routes sit in the URL the client called: the base path links must carry (a stage or a
custom domain's base path), and the route path the resolver matches once that base path is stripped."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Powertools' data classes load every event class of their package: not at import
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

# API Gateway's own host for a REST API: <api id>.execute-api.<region>.amazonaws.com (.cn in China).
_DEFAULT_HOST = re.compile(r"[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?", re.IGNORECASE)
# Where the API's routes start in a request path: everything before is a custom domain's base path.
_ROUTES_START = re.compile(r"/api/execute(?:/|$)")
# For the resolver's strip_prefixes: a custom domain's base path (/v1/api/execute -> /api/execute).
BASE_PATH_PREFIX = re.compile(r"^/.+?(?=/api/execute(?:/|$))")


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
