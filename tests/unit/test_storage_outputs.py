"""Output keys, stored references and presigned links (execution_api.storage.outputs)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from hypothesis import given
from hypothesis import strategies as st

from execution_api.storage.outputs import OutputLinks, output_key, parse_reference, reference, tenant_key, tenant_prefix

BUCKET = "outputs-bucket"
KEY_SHAPE = re.compile(r"[0-9a-f]{32}/[A-Za-z0-9_%.~-]+/[0-9a-f]{16}/[0-9a-f]{32}(\.[A-Za-z0-9]+)?")


@given(tenant=st.text(min_size=1), execution_id=st.text(min_size=1), job_id=st.text(min_size=1))
def test_a_key_is_safe_whatever_the_ids_hold_and_never_repeats(tenant: str, execution_id: str, job_id: str) -> None:
    # Given any tenant, execution and job ids (slashes, dots, unicode, control characters)
    # When two outputs of the same job get keys
    first, second = output_key(tenant, execution_id, job_id, "mp4"), output_key(tenant, execution_id, job_id, "mp4")
    # Then each key has the fixed shape (the ids hashed or escaped, 128 random bits), starts with the
    # tenant's prefix, and the two differ (unguessable: no key follows from another)
    for key in (first, second):
        assert KEY_SHAPE.fullmatch(key), key
        assert key.startswith(tenant_prefix(tenant) + "/")
        assert ".." not in key.split("/")
    assert first != second


def test_an_extension_that_is_not_plain_letters_and_digits_is_left_out() -> None:
    assert "." not in output_key("t", "e", "j", "../x").rsplit("/", 1)[1]
    assert output_key("t", "e", "j", "png").endswith(".png")


def test_a_reference_round_trips_and_other_urls_are_not_references() -> None:
    assert parse_reference(reference(BUCKET, "a/b.mp4")) == (BUCKET, "a/b.mp4")
    for url in ("https://example.com/a.mp4", "s3://", "s3://bucket", "s3://bucket/", "S3://bucket/key"):
        assert parse_reference(url) is None, url


def test_only_the_tenants_own_outputs_in_this_bucket_are_readable() -> None:
    own = output_key("acme", "e1", "j1", "mp4")
    assert tenant_key(reference(BUCKET, own), BUCKET, "acme") == own
    # Another tenant's output, another bucket, a path that climbs out, a plain URL: none
    assert tenant_key(reference(BUCKET, own), BUCKET, "globex") is None
    assert tenant_key(reference("other-bucket", own), BUCKET, "acme") is None
    assert (
        tenant_key(reference(BUCKET, f"{tenant_prefix('acme')}/../{tenant_prefix('globex')}/x"), BUCKET, "acme") is None
    )
    assert tenant_key("https://example.com/x.mp4", BUCKET, "acme") is None


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def links(clock: Clock, expiry: int = 3600) -> OutputLinks:
    s3: Any = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",  # a made-up credential: signing makes no call
        config=Config(signature_version="s3v4"),  # as execution_api.core.aws_clients.s3_client
    )
    return OutputLinks(lambda: s3, BUCKET, expiry, clock)


def test_windows_are_half_the_expiry_long() -> None:
    clock = Clock(7200.0)
    presenter = links(clock, expiry=3600)
    first = presenter.window()
    clock.now += 1799
    assert presenter.window() == first
    clock.now += 1
    assert presenter.window() == first + 1


def test_a_stored_reference_is_presented_as_a_presigned_get_and_anything_else_as_stored() -> None:
    presenter = links(Clock(1_000_000.0), expiry=900)
    own = reference(BUCKET, output_key("acme", "e1", "j1", "mp4"))
    url = presenter.url(own, "acme")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https"
    assert BUCKET in parts.netloc + parts.path
    assert query["X-Amz-Expires"] == ["900"]
    assert "X-Amz-Signature" in query
    # Another tenant's reference and foreign URLs are shown as stored, never signed
    assert presenter.url(own, "globex") == own
    assert presenter.url("https://cdn.example.com/x.mp4", "acme") == "https://cdn.example.com/x.mp4"


def test_a_job_result_keeps_its_shape_with_each_url_presented() -> None:
    presenter = links(Clock(1_000_000.0))
    own = reference(BUCKET, output_key("acme", "e1", "j1", "mp4"))
    stored = {
        "status": "completed",
        "outputs": [{"type": "video", "url": own, "mimeType": "video/mp4", "bytes": 10, "durationSeconds": 2.0}],
        "metadata": {"encoded": "copy"},
    }
    presented = presenter.job_result(stored, "acme")
    assert presented["outputs"][0]["url"].startswith("https://")
    assert {k: v for k, v in presented["outputs"][0].items() if k != "url"} == {
        "type": "video",
        "mimeType": "video/mp4",
        "bytes": 10,
        "durationSeconds": 2.0,
    }
    assert presented["metadata"] == {"encoded": "copy"}
    assert stored["outputs"][0]["url"] == own  # the stored result is not changed
    assert presenter.job_result(None, "acme") is None
    assert presenter.execution_result({"url": None, "status": "completed"}, "acme") == {
        "url": None,
        "status": "completed",
    }


def test_no_s3_client_is_made_until_a_reference_is_presented() -> None:
    # Given links whose S3 client may not be made (a poll of a pending execution, simulated outputs)
    def no_client() -> Any:
        raise AssertionError("the S3 client was made")

    unused = OutputLinks(no_client, BUCKET, 3600)
    # When results and URLs that hold no reference to the bucket are presented, then they are shown as stored
    result = {"status": "completed", "outputs": [{"type": "video", "url": "https://example.com/a.mp4"}]}
    assert unused.job_result(result, "tenant") == result
    assert unused.execution_result({"url": "https://example.com/a.mp4", "status": "completed"}, "t")["url"] == (
        "https://example.com/a.mp4"
    )
    assert unused.url(f"s3://another-bucket/{tenant_prefix('t')}/e/j/k.mp4", "t").startswith("s3://another-bucket/")
    # And the first reference of the tenant's own does make it
    made: list[Any] = []
    links_ = OutputLinks(lambda: made.append(1) or links(Clock(0)).s3(), BUCKET, 3600)
    assert links_.url(reference(BUCKET, f"{tenant_prefix('t')}/e/j/k.mp4"), "t").startswith("https://")
    assert made == [1]
