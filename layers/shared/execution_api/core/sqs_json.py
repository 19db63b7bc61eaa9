"""An SQS record's body, parsed as json.loads parses it, for the Powertools parser models of the batch handlers
(`body: Annotated[Message, BeforeValidator(json_body)]`: engine/messages.py, webhooks/delivery.py)."""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import PydanticCustomError


def json_body(text: Any) -> Any:
    """The body's JSON value. Not pydantic's `Json`: its parser refuses a lone surrogate escape ("\\ud800") that
    json.loads reads, and a provider's text in a job's result or error may carry one (the record would fail and
    the run wait for its timeout). An error says where the text broke, never what it holds (a task token)."""
    if not isinstance(text, str | bytes | bytearray):
        raise PydanticCustomError("json_type", "JSON input should be string, bytes or bytearray")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PydanticCustomError(
            "json_invalid",
            "Invalid JSON: {error} at line {line} column {column}",
            {"error": error.msg, "line": error.lineno, "column": error.colno},
        ) from None
    except (UnicodeDecodeError, RecursionError):  # bytes in no JSON encoding; nested deeper than Python recurses
        raise PydanticCustomError("json_invalid", "Invalid JSON: not decodable") from None
