"""A job's params as the worker sees them: the job record's (storage.items reads them from the job item), with
every `_<word>JobDependency:<id>` replaced by that dependency's output url. They travel to the worker as exact
JSON text (`paramsJson`), so no hop (Step Functions, SQS, a JSON parser) can round a number."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from execution_api.core import exact_json
from execution_api.models.plan import DEPENDENCY_REFERENCE


def params_text(params: dict[str, Any]) -> str:
    """Params as the job message carries them: JSON text with every number exactly as the client sent it."""
    return exact_json.dumps(params)


def output_url(result: Any) -> str | None:
    """The first output url of a job result ({"outputs": [{"url": ...}]}), as docs/api.md shapes it."""
    if isinstance(result, dict):
        for output in result.get("outputs") or []:
            if isinstance(output, dict) and isinstance(output.get("url"), str):
                return str(output["url"])
    return None


def resolve_references(value: Any, urls: Mapping[str, str | None]) -> Any:
    """`value` with every dependency reference (a whole string, as a value or an object key) replaced by the
    dependency's url. A reference to a job not in `urls` stays as it is (intake refuses those)."""
    if isinstance(value, str):
        match = DEPENDENCY_REFERENCE.fullmatch(value)
        if match is not None and match["job_id"] in urls:
            return urls[match["job_id"]]
        return value
    if isinstance(value, dict):
        return {_resolve_key(k, urls): resolve_references(v, urls) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, urls) for v in value]
    return value


def _resolve_key(key: str, urls: Mapping[str, str | None]) -> str:
    resolved = resolve_references(key, urls)
    return resolved if isinstance(resolved, str) else key  # a key must stay a string


def float_numbers(value: Any) -> Any:
    """Params with each fraction as a float, for an executor: they reach the worker exact (Decimal, above), while
    the media operations and the providers' JSON take numbers as Python reads JSON (ffmpeg works in floats, and
    json.dumps cannot write a Decimal)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: float_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [float_numbers(item) for item in value]
    return value
