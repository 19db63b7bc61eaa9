"""Outputs in the status answer (docs/api.md, "Outputs"): stored references become presigned GETs, and the
ETag covers the stored state and the signing window, so a 304 never leaves a client with an expired URL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from execution_api.storage.outputs import output_key, output_links, reference
from local.stack import LocalDeployment
from tests.integration.test_status_etag import header, poll, submitted
from tests.support import LOCAL_TENANT, Api


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def complete_with(aws: LocalDeployment, table: Any, execution_id: str, url: str) -> None:
    """The first job of the execution completed with one output at `url`, as the engine stores it."""
    result = {
        "status": "completed",
        "outputs": [{"type": "video", "url": url, "mimeType": "video/mp4", "bytes": 2048, "durationSeconds": 2.0}],
        "metadata": {"operation": "reframe"},
    }
    pk = f"TENANT#{LOCAL_TENANT}#EXECUTION#{execution_id}"
    jobs = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": pk})["Items"]
    first = next(item for item in jobs if item["sk"].startswith("JOB#"))
    table.update_item(
        Key={"pk": pk, "sk": first["sk"]},
        UpdateExpression="SET #s = :s, #r = :r",
        ExpressionAttributeNames={"#s": "status", "#r": "result"},
        ExpressionAttributeValues={":s": "completed", ":r": json.dumps(result)},
    )


@pytest.fixture
def clock(aws: LocalDeployment) -> Clock:
    fake = Clock()
    output_links().clock = fake  # the status function's presigner, once per container
    return fake


def test_an_output_in_the_bucket_is_answered_as_a_presigned_get_and_stored_as_a_reference(
    api: Api, aws: LocalDeployment, table: Any, clock: Clock
) -> None:
    # Given a job completed with an output in the bucket
    execution_id = submitted(api)
    bucket = aws.names["OutputsBucket"]
    stored = reference(bucket, output_key(LOCAL_TENANT, execution_id, "job1", "mp4"))
    complete_with(aws, table, execution_id, stored)
    # When the client reads the status
    answer = poll(api, execution_id, {})
    # Then the output is a presigned GET of that object, valid for OUTPUT_URL_EXPIRY_SECONDS, with its facts
    [job] = [j for j in json.loads(answer["body"])["jobs"] if j["result"]]
    [output] = job["result"]["outputs"]
    parts = urlsplit(output["url"])
    assert parts.path.endswith(stored.split("/", 3)[3])
    assert parse_qs(parts.query)["X-Amz-Expires"] == ["3600"]
    assert "X-Amz-Signature" in parse_qs(parts.query)
    assert {k: output[k] for k in ("type", "mimeType", "bytes", "durationSeconds")} == {
        "type": "video",
        "mimeType": "video/mp4",
        "bytes": 2048,
        "durationSeconds": 2.0,
    }
    assert "s3://" not in answer["body"]
    # And the tag is weak: the bytes change with each signing, the meaning does not
    assert (header(answer, "ETag") or "").startswith('W/"')


def test_a_304_holds_within_the_signing_window_and_a_new_window_gets_fresh_urls(
    api: Api, aws: LocalDeployment, table: Any, clock: Clock
) -> None:
    # Given a completed output and a first answer
    execution_id = submitted(api)
    complete_with(
        aws, table, execution_id, reference(aws.names["OutputsBucket"], output_key(LOCAL_TENANT, "e", "j", "mp4"))
    )
    first = poll(api, execution_id, {})
    etag = header(first, "ETag")
    assert etag is not None
    # When the client polls with the tag within the same window (half the expiry)
    clock.now += 1799
    # Then 304: the URLs it holds stay valid for at least half the expiry
    assert poll(api, execution_id, {"If-None-Match": etag})["statusCode"] == 304
    # When the window has turned
    clock.now += 1
    renewed = poll(api, execution_id, {"If-None-Match": etag})
    # Then a full answer with a new tag and URLs signed anew
    assert renewed["statusCode"] == 200
    assert header(renewed, "ETag") != etag
    assert poll(api, execution_id, {"If-None-Match": header(renewed, "ETag") or ""})["statusCode"] == 304


def test_without_bucket_outputs_the_tag_stays_strong_and_never_turns_with_the_window(
    api: Api, aws: LocalDeployment, table: Any, clock: Clock
) -> None:
    execution_id = submitted(api)
    complete_with(aws, table, execution_id, "https://cdn.example.com/clip.mp4")
    first = poll(api, execution_id, {})
    etag = header(first, "ETag") or ""
    assert etag.startswith('"')
    clock.now += 10 * 3600
    assert poll(api, execution_id, {"If-None-Match": etag})["statusCode"] == 304
    assert "https://cdn.example.com/clip.mp4" in first["body"]


def test_another_tenants_reference_is_never_signed(api: Api, aws: LocalDeployment, table: Any, clock: Clock) -> None:
    # Given a result that (by a worker's mistake) names another tenant's object
    execution_id = submitted(api)
    foreign = reference(aws.names["OutputsBucket"], output_key("another-tenant", "e", "j", "mp4"))
    complete_with(aws, table, execution_id, foreign)
    # Then it is shown as stored, never presigned for this client
    body = poll(api, execution_id, {})["body"]
    assert "X-Amz-Signature" not in body
    assert foreign in body
