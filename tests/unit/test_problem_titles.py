"""A problem's title is the same whichever Python runs the function (3.13 renamed 422's phrase)."""

from __future__ import annotations

import json
from http import HTTPStatus

from execution_api.api.problems import problem_response


def title(status: HTTPStatus, **kwargs: str) -> str:
    body = problem_response("req-1", status, "some_code", "what went wrong", **kwargs).body
    assert isinstance(body, str)
    return str(json.loads(body)["title"])


def test_422_is_titled_by_rfc_9110_on_every_python() -> None:
    assert title(HTTPStatus.UNPROCESSABLE_ENTITY) == "Unprocessable Content"


def test_other_statuses_keep_their_standard_phrase_and_a_given_title_wins() -> None:
    assert title(HTTPStatus.NOT_FOUND) == "Not Found"
    assert title(HTTPStatus.UNPROCESSABLE_ENTITY, title="Invalid execution plan") == "Invalid execution plan"
