"""The status answer's strong ETag and If-None-Match (docs/api.md; RFC 9110 sections 8.8.3, 13.1.2, 15.4.5):
a poll that sends the tag back while nothing changed gets 304 with no body."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from execution_api.api.etags import none_match, strong_etag
from local.events import rest_api_event
from local.stack import FakeLambdaContext
from tests.support import LOCAL_TENANT, STATUS, Api, event_file, table_items


def submitted(api: Api) -> str:
    return str(api.submit(json.loads(event_file("submit-canonical.json")["body"])).body["id"])


def poll(api: Api, execution_id: str, headers: dict[str, str], multi: dict[str, list[str]] | None = None) -> Any:
    """The status handler's raw result for a GET with these headers (and header lines, if given)."""
    event = rest_api_event(
        "GET",
        f"/api/execute/{execution_id}/status",
        resource="/api/execute/{id}/status",
        path_parameters={"id": execution_id},
        headers=headers,
        tenant_id=LOCAL_TENANT,
    )
    if multi is not None:
        event["multiValueHeaders"] = multi
    function = api.stack.function(STATUS)
    return api.stack.handler(function)(event, FakeLambdaContext(function, event["requestContext"]["requestId"]))


def header(result: dict[str, Any], name: str) -> str | None:
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    headers.update({k.lower(): v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()})
    return headers.get(name.lower())


def test_the_answer_carries_a_strong_etag_of_its_exact_body(api: Api) -> None:
    # Given an accepted execution
    execution_id = submitted(api)
    # When its status is read twice
    first, second = poll(api, execution_id, {}), poll(api, execution_id, {})
    # Then both carry the same strong tag (quoted, no W/), a hash of the body bytes
    etag = header(first, "ETag")
    assert etag is not None
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert etag == '"' + hashlib.blake2b(first["body"].encode(), digest_size=16).hexdigest() + '"'
    assert header(second, "ETag") == etag
    assert second["body"] == first["body"]


@pytest.mark.parametrize(
    "if_none_match",
    ["{tag}", "W/{tag}", '"other", {tag}', '"a,b" , W/{tag} ,"c"', "*", "  {tag}  "],
    ids=["same", "weak", "in-a-list", "list-with-commas-in-tags", "star", "spaces"],
)
def test_a_matching_if_none_match_gets_304_without_a_body(api: Api, if_none_match: str) -> None:
    # Given the tag of an unchanged execution
    execution_id = submitted(api)
    etag = header(poll(api, execution_id, {}), "ETag")
    assert etag is not None
    # When it is polled with a matching If-None-Match (any spelling of the header name)
    result = poll(api, execution_id, {"if-None-Match": if_none_match.format(tag=etag)})
    # Then 304, no body, no content type, and the tag again
    assert result["statusCode"] == 304
    assert not result.get("body")
    assert header(result, "Content-Type") is None
    assert header(result, "ETag") == etag


@pytest.mark.parametrize("if_none_match", ['"nope"', 'W/"nope", "other"', "not-a-tag", '""', ""])
def test_a_different_or_malformed_if_none_match_gets_the_full_answer(api: Api, if_none_match: str) -> None:
    execution_id = submitted(api)
    result = poll(api, execution_id, {"If-None-Match": if_none_match})
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["id"] == execution_id
    assert header(result, "ETag") is not None


def test_several_if_none_match_lines_are_one_list(api: Api) -> None:
    # Given a tag, sent on the second of two header lines (API Gateway keeps only the last in `headers`)
    execution_id = submitted(api)
    etag = header(poll(api, execution_id, {}), "ETag")
    assert etag is not None
    result = poll(api, execution_id, {"If-None-Match": '"x"'}, multi={"If-None-Match": [etag, '"x"']})
    assert result["statusCode"] == 304


def test_a_change_gives_a_new_tag_and_the_old_one_no_longer_matches(api: Api, table: Any) -> None:
    # Given a tag taken while the execution was pending
    execution_id = submitted(api)
    etag = header(poll(api, execution_id, {}), "ETag")
    # When a job changes (as the engine will write it)
    item = next(i for i in table_items(table) if i["sk"] == "JOB#job1")
    table.update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "processing"},
    )
    # Then the old tag gets the full, new answer with a new tag
    result = poll(api, execution_id, {"If-None-Match": str(etag)})
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["currentJob"] == "job1"
    assert header(result, "ETag") not in (None, etag)


def test_an_unknown_execution_is_404_even_with_star(api: Api) -> None:
    # `*` matches only a current representation; there is none
    result = poll(api, "V1StGXR8_Z5jdHi6B-myT", {"If-None-Match": "*"})
    assert result["statusCode"] == 404


def test_none_match_rules() -> None:
    tag = strong_etag(b"{}")
    assert none_match([tag], tag)
    assert none_match(["W/" + tag], tag)
    assert none_match(['"a", ' + tag], tag)
    assert none_match(["*"], tag)
    assert not none_match([], tag)
    assert not none_match(['"a"', "W/"], tag)
    assert not none_match([tag[:-1]], tag)  # unterminated: malformed, matches nothing
    assert strong_etag(b"{}") != strong_etag(b"{ }")
