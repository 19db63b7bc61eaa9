"""Media inputs (execution_api.engine.fetch): a loopback fake server plays every bad input of issue 21
point 4; the rules are the webhook sender's (https, resolved once, refused ranges, checked redirects)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from execution_api.engine.fetch import InputFetcher, InputLimits, InputRefused, InputUnavailable
from execution_api.storage.outputs import output_key, reference
from tests.fake_media import VIDEO, media_host
from tests.webhooks.test_transport import certificate, tls_receiver

__all__ = ["certificate", "media_host", "tls_receiver"]  # fixtures

BUCKET = "outputs"


def fetcher(s3: Any = None, **limits: Any) -> InputFetcher:
    settings = {"allow_insecure": True, "timeout_seconds": 5.0, "max_bytes": 1024 * 1024, **limits}
    return InputFetcher(s3, BUCKET, "acme", InputLimits(**settings))


def test_a_media_file_is_downloaded_into_the_directory(media_host: str, tmp_path: Path) -> None:
    path = fetcher()(f"{media_host}/clip.mp4", tmp_path)
    assert path.parent == tmp_path
    assert path.suffix == ".mp4"
    assert path.read_bytes() == VIDEO


def test_a_redirect_is_followed_under_the_same_rules(media_host: str, tmp_path: Path) -> None:
    assert fetcher()(f"{media_host}/moved.mp4", tmp_path).read_bytes() == VIDEO


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/missing.mp4", "the server answered 404"),
        ("/page.mp4", "is a web page (text/html), not a media file"),
        ("/empty.mp4", "is empty (zero bytes)"),
        ("/huge.mp4", "is larger than the 1,048,576 bytes a media input may have"),
        ("/unannounced.mp4", "is larger than the 10,000 bytes"),
        ("/to-private.mp4", "a private address"),
        ("/to-metadata.mp4", "link-local"),
        ("/loop.mp4", "redirects more than 5 times"),
    ],
)
def test_a_bad_input_is_refused_in_words_and_leaves_no_file(
    media_host: str, tmp_path: Path, path: str, words: str
) -> None:
    limits = {"max_bytes": 10_000} if path == "/unannounced.mp4" else {}
    with pytest.raises(InputRefused) as refused:
        fetcher(**limits)(f"{media_host}{path}", tmp_path)
    assert words in str(refused.value)
    assert str(refused.value).startswith(f"the input {media_host}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "words", "limits"),
    [
        ("/busy.mp4", "unavailable for now (the server answered 503)", {}),
        ("/slow.mp4", "did not arrive within 1 s", {"timeout_seconds": 1.0}),
    ],
)
def test_a_transient_failure_is_retryable_and_leaves_no_file(
    media_host: str, tmp_path: Path, path: str, words: str, limits: dict[str, Any]
) -> None:
    with pytest.raises(InputUnavailable) as unavailable:
        fetcher(**limits)(f"{media_host}{path}", tmp_path)
    assert words in str(unavailable.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_host_is_refused(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(InputRefused, match="unreachable"):
        fetcher()(f"http://127.0.0.1:{port}/clip.mp4", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://10.1.2.3/clip.mp4", "a private address"),
        ("http://[::ffff:192.168.0.1]/clip.mp4", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("ftp://example.com/clip.mp4", "absolute https URL"),
        ("https://user:pw@example.com/clip.mp4", "must not contain credentials"),
    ],
)
def test_a_refused_address_is_never_connected_to(tmp_path: Path, url: str, words: str) -> None:
    with pytest.raises(InputRefused) as refused:
        fetcher()(url, tmp_path)
    assert words in str(refused.value)
    assert "webhook" not in str(refused.value)
    assert "pw" not in str(refused.value)


def test_without_the_local_switch_http_and_loopback_are_refused(media_host: str, tmp_path: Path) -> None:
    with pytest.raises(InputRefused, match="must use https"):
        fetcher(allow_insecure=False)(f"{media_host}/clip.mp4", tmp_path)


def test_a_name_is_resolved_once_and_refused_if_any_address_is_private(tmp_path: Path) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.1"]  # a public and a private address: rebinding bait

    limits = InputLimits(allow_insecure=False, timeout_seconds=2.0)
    with pytest.raises(InputRefused, match="a private address"):
        InputFetcher(None, BUCKET, "acme", limits, resolver=resolver)("https://media.example/clip.mp4", tmp_path)


def test_the_query_of_a_url_never_shows_in_an_error(media_host: str, tmp_path: Path) -> None:
    with pytest.raises(InputRefused) as refused:
        fetcher()(f"{media_host}/missing.mp4?X-Amz-Signature=secret", tmp_path)
    assert "secret" not in str(refused.value)


# ---- this service's own outputs, read from the bucket ----
@pytest.fixture
def bucket() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def test_an_own_output_is_read_from_the_bucket(bucket: Any, tmp_path: Path) -> None:
    key = output_key("acme", "e1", "clip", "mp4")
    bucket.put_object(Bucket=BUCKET, Key=key, Body=VIDEO)
    path = fetcher(bucket)(reference(BUCKET, key), tmp_path)
    assert path.read_bytes() == VIDEO
    assert path.suffix == ".mp4"


def test_another_tenants_output_or_another_bucket_is_refused(bucket: Any, tmp_path: Path) -> None:
    key = output_key("globex", "e1", "clip", "mp4")
    bucket.put_object(Bucket=BUCKET, Key=key, Body=VIDEO)
    for url in (reference(BUCKET, key), reference("someone-elses-bucket", output_key("acme", "e", "j", "mp4"))):
        with pytest.raises(InputRefused, match="is not an output of this service for this client"):
            fetcher(bucket)(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_expired_output_is_refused_in_words(bucket: Any, tmp_path: Path) -> None:
    with pytest.raises(InputRefused, match="no longer exists"):
        fetcher(bucket)(reference(BUCKET, output_key("acme", "e1", "gone", "mp4")), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_own_output_over_the_size_limit_is_refused(bucket: Any, tmp_path: Path) -> None:
    key = output_key("acme", "e1", "clip", "mp4")
    bucket.put_object(Bucket=BUCKET, Key=key, Body=VIDEO)
    with pytest.raises(InputRefused, match="is larger than the 100 bytes"):
        fetcher(bucket, max_bytes=100)(reference(BUCKET, key), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_long_download_offers_heartbeats_and_a_cancelled_job_stops_it_leaving_no_file(
    media_host: str, tmp_path: Path
) -> None:
    class Abandoned(Exception):
        pass

    beats: list[int] = []

    def heartbeat() -> None:
        beats.append(1)
        raise Abandoned  # the worker's heartbeat raises when Step Functions no longer waits for the job

    limits = InputLimits(allow_insecure=True, timeout_seconds=5.0, max_bytes=1024 * 1024)
    with pytest.raises(Abandoned):
        InputFetcher(None, BUCKET, "acme", limits, heartbeat=heartbeat)(f"{media_host}/clip.mp4", tmp_path)
    assert beats == [1]
    assert list(tmp_path.iterdir()) == []


def test_a_certificate_that_does_not_verify_is_refused_not_retried(
    tls_receiver: tuple[int, list[str | None], list[bytes]], tmp_path: Path
) -> None:
    # Given an https host whose certificate no trusted authority signed (the webhook tests' TLS receiver)
    port, _names, requests = tls_receiver

    def resolver(host: str, port_: int) -> list[str]:
        return ["127.0.0.1"]

    fetch = InputFetcher(None, BUCKET, "acme", InputLimits(allow_insecure=True, timeout_seconds=5.0), resolver=resolver)
    # When the input is fetched, then it fails for good, in words, before any request is sent
    with pytest.raises(InputRefused, match="has a TLS certificate that does not verify"):
        fetch(f"https://media.example.test:{port}/clip.mp4", tmp_path)
    assert requests == []
    assert list(tmp_path.iterdir()) == []


def test_a_download_never_outlasts_what_is_left_of_the_jobs_time(media_host: str, tmp_path: Path) -> None:
    # Given a job with half a second left, and an input that takes five (within INPUT_TIMEOUT_SECONDS alone)
    limits = InputLimits(allow_insecure=True, timeout_seconds=30.0, max_bytes=1024 * 1024)
    fetch = InputFetcher(None, BUCKET, "acme", limits, time_left=lambda: 0.5)
    # When it is fetched, then it stops when the job's time does, retryable, in words, leaving no file
    with pytest.raises(InputUnavailable) as unavailable:
        fetch(f"{media_host}/slow.mp4", tmp_path)
    assert (
        str(unavailable.value)
        == f"the input {media_host}/slow.mp4 did not arrive within the 0.5 s left of the job's time"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_connection_reset_mid_download_is_retried_not_failed_for_good(tmp_path: Path) -> None:
    # Given a server that starts the body, then resets the connection (a CDN or proxy dropping it)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def serve() -> None:
            connection, _ = server.accept()
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000
            )
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
            connection.close()

        thread = threading.Thread(target=serve)
        thread.start()
        # When it is fetched
        with pytest.raises(InputUnavailable) as unavailable:
            fetcher()(f"http://127.0.0.1:{server.getsockname()[1]}/clip.mp4", tmp_path)
        thread.join()
    # Then the job is retried (the next attempt may well succeed), and no partial file stays
    assert "could not be downloaded" in str(unavailable.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), InputUnavailable, "for now (DNS)"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), InputRefused, "could not be resolved"),
    ],
    ids=["dns-server-busy", "no-such-name"],
)
def test_a_dns_failure_for_now_is_retried_and_a_name_that_does_not_exist_is_not(
    tmp_path: Path, error: OSError, kind: type[Exception], words: str
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise error

    limits = InputLimits(allow_insecure=False, timeout_seconds=2.0)
    with pytest.raises(kind) as failed:
        InputFetcher(None, BUCKET, "acme", limits, resolver=resolver)("https://media.example/clip.mp4", tmp_path)
    assert words in str(failed.value)
    assert list(tmp_path.iterdir()) == []


def test_a_request_timeout_answer_is_retried(tmp_path: Path) -> None:
    # Given a server that answers 408 Request Timeout (it gave up waiting: a later attempt may pass)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def serve() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        thread = threading.Thread(target=serve)
        thread.start()
        with pytest.raises(InputUnavailable, match=r"unavailable for now \(the server answered 408\)"):
            fetcher()(f"http://127.0.0.1:{server.getsockname()[1]}/clip.mp4", tmp_path)
        thread.join()
    assert list(tmp_path.iterdir()) == []


def test_a_download_names_itself_as_hosts_require(tmp_path: Path) -> None:
    # Given a host that, like Wikimedia's, refuses a request without a User-Agent
    seen: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def serve() -> None:
            connection, _ = server.accept()
            with connection:
                request = connection.recv(65536)
                seen.append(request)
                answer = b"200 OK" if b"\r\nUser-Agent: ExecutionAPI-Media/" in request else b"403 Forbidden"
                body = VIDEO if answer.startswith(b"200") else b""
                head = f"Content-Type: video/mp4\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                connection.sendall(b"HTTP/1.1 " + answer + b"\r\n" + head.encode() + body)

        thread = threading.Thread(target=serve)
        thread.start()
        path = fetcher()(f"http://127.0.0.1:{server.getsockname()[1]}/clip.mp4", tmp_path)
        thread.join()
    assert path.read_bytes() == VIDEO
