"""The media executor's glue (execution_api.engine.media_executor): the work directory is removed whatever
happens, each output is uploaded under its tenant's key, and failures keep their kind (failed for good,
retried, or the worker's unexpected error)."""

from __future__ import annotations

import errno
import pathlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from execution_api.engine.executors import JobFailed, JobRequest
from execution_api.engine.media_executor import MediaExecutor, MediaSettings
from execution_api.media import MediaError, MediaOutput
from execution_api.storage.outputs import parse_reference, tenant_prefix
from tests.fake_media import media_host

__all__ = ["media_host"]  # fixture

BUCKET = "outputs"
JOB = JobRequest("exec1", "job/1", "reframe", {"aspectRatio": "9:16"}, tenant_id="acme", dependency_urls=("s3://x/y",))


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def executor(s3: Any, run_operation: Any) -> MediaExecutor:
    settings = MediaSettings.model_validate({"OUTPUTS_BUCKET_NAME": BUCKET})
    return MediaExecutor(s3, settings, run_operation=run_operation)


class Operation:
    """A stand-in for execution_api.media.run_operation that records its work directory."""

    def __init__(self, outcome: Any = None) -> None:
        self.outcome = outcome
        self.workdirs: list[pathlib.Path] = []
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, operation: str, params: Any, dependency_urls: Any, workdir: pathlib.Path, *_: Any) -> Any:
        self.workdirs.append(workdir)
        self.calls.append((operation, dict(params), list(dependency_urls)))
        (workdir / "scratch.bin").write_bytes(b"intermediate")
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        output = workdir / "out.mp4"
        output.write_bytes(b"\x00" * 4096)
        return [MediaOutput(output, "video", "video/mp4", 2.0, 1080, 1920)], {"encoded": "x264"}


def test_outputs_are_uploaded_under_the_tenant_and_the_workdir_is_removed(s3: Any) -> None:
    operation = Operation()
    result = executor(s3, operation).run(JOB, lambda: None)
    # The operation got the job as the contract says
    assert operation.calls == [("reframe", {"aspectRatio": "9:16"}, ["s3://x/y"])]
    # The result holds a stable reference and the output's facts
    [output] = result["outputs"]
    assert output == {
        "type": "video",
        "url": output["url"],
        "mimeType": "video/mp4",
        "bytes": 4096,
        "durationSeconds": 2.0,
        "width": 1080,
        "height": 1920,
    }
    assert result["metadata"] == {"encoded": "x264"}
    bucket, key = parse_reference(output["url"]) or ("", "")
    assert bucket == BUCKET
    assert key.startswith(f"{tenant_prefix('acme')}/exec1/")
    assert key.endswith(".mp4")
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert (head["ContentType"], head["ContentLength"]) == ("video/mp4", 4096)
    assert not operation.workdirs[0].exists()


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (MediaError("the input at /params/videoUrl is an image; reframe needs a video"), (False, "is an image")),
        (JobFailed("the input is unavailable for now", retryable=True), (True, "unavailable")),
        # a file the operation writes itself on a full disk: the same worker cannot fit it on a retry
        (OSError(errno.ENOSPC, "No space left on device"), (False, "need more than the ")),
    ],
)
def test_a_failed_operation_keeps_its_kind_and_leaves_no_file(
    s3: Any, raised: Exception, expected: tuple[bool, str]
) -> None:
    operation = Operation(raised)
    with pytest.raises(JobFailed) as failed:
        executor(s3, operation).run(JOB, lambda: None)
    assert failed.value.retryable is expected[0]
    assert expected[1] in failed.value.message
    assert not operation.workdirs[0].exists()
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


@pytest.mark.parametrize("raised", [RuntimeError("ffmpeg crashed"), PermissionError(13, "Permission denied")])
def test_an_unexpected_error_reaches_the_worker_and_still_leaves_no_file(s3: Any, raised: Exception) -> None:
    operation = Operation(raised)
    with pytest.raises(type(raised)):
        executor(s3, operation).run(JOB, lambda: None)  # the worker reports "failed unexpectedly", retryable
    assert not operation.workdirs[0].exists()


def test_an_output_outside_the_workdir_is_never_uploaded(s3: Any, tmp_path: pathlib.Path) -> None:
    elsewhere = tmp_path / "secret.txt"
    elsewhere.write_text("not an output")

    def escaping(*args: Any) -> Any:
        return [MediaOutput(elsewhere, "text", "text/plain")], {}

    with pytest.raises(RuntimeError, match="outside its work directory"):
        executor(s3, escaping).run(JOB, lambda: None)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_the_fetch_it_hands_over_turns_input_problems_into_their_kinds(s3: Any) -> None:
    seen: list[Exception] = []

    def fetching(operation: str, params: Any, urls: Any, workdir: pathlib.Path, fetch: Any, heartbeat: Any) -> Any:
        for url in ("s3://outputs/another-tenant/x.mp4", "https://10.0.0.1/x.mp4"):
            try:
                fetch(url, workdir)
            except (MediaError, JobFailed) as error:
                seen.append(error)
        raise MediaError("no input could be read")

    with pytest.raises(JobFailed):
        executor(s3, fetching).run(JOB, lambda: None)
    assert [type(error) for error in seen] == [MediaError, MediaError]
    assert "is not an output of this service for this client" in str(seen[0])
    assert "a private address" in str(seen[1])


def test_the_inputs_of_a_job_share_its_time_with_ffmpeg(
    s3: Any, media_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job whose time (MEDIA_FFMPEG_TIMEOUT_SECONDS) is shorter than its input takes to arrive
    monkeypatch.setenv("MEDIA_FFMPEG_TIMEOUT_SECONDS", "0.5")
    settings = MediaSettings.model_validate({"OUTPUTS_BUCKET_NAME": BUCKET, "ALLOW_INSECURE_INPUTS": True})
    params = {"url": f"{media_host}/slow.mp4", "aspectRatio": "9:16"}
    job = JobRequest("exec1", "job1", "reframe", params, tenant_id="acme")
    # When the real operation runs, then the download stops with the job's time: retried, never a worker timeout
    with pytest.raises(JobFailed) as failed:
        MediaExecutor(s3, settings).run(job, lambda: None)
    assert failed.value.retryable
    assert "left of the job's time" in failed.value.message


def test_exact_fractions_reach_the_media_operations_as_floats_and_the_rest_unchanged() -> None:
    from decimal import Decimal

    from execution_api.engine.params import float_numbers

    params = {"volume": Decimal("0.5"), "n": 3, "on": True, "words": [{"start": Decimal("1E+1"), "word": "a"}]}
    assert float_numbers(params) == {"volume": 0.5, "n": 3, "on": True, "words": [{"start": 10.0, "word": "a"}]}
    assert type(float_numbers(params)["n"]) is int
