"""Nothing run twice, nothing left hanging (review of issue 22, C1 and C4): every check of an unsettled
prediction keeps its task alive, a retried attempt of a job takes over the prediction already running
instead of paying for a second, and an unexpected error while settling is tried again and then fails the
job in words rather than waiting for the queue's dead-letter queue."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from execution_api.engine.executors import JobDeferred
from execution_api.models.records import Execution, Job
from execution_api.storage.items import job_item
from tests.providers.conftest import TOKEN, Harness
from tests.providers.fakes import MP4, Scripted
from tests.providers.test_predictions import KEY, SEEDANCE, submit
from tests.support import fill_the_disk_during_downloads

SECOND_TOKEN = "task-token-of-the-second-attempt-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def put_job_item(providers: Harness) -> None:
    """The job's item, as the engine writes it before the worker runs the job."""
    execution = Execution("exec-1", "tenant-a", "processing", "c", "u", 1, ("job1",), 1)
    job = Job("job1", 0, "generate", {}, (), None, status="processing")
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=providers.table, Item=job_item(execution, job, "w")
    )


def test_a_retried_attempt_adopts_the_running_prediction_and_its_token_gets_the_answer(providers: Harness) -> None:
    # Given attempt 1 submitted a prediction, and its task's heartbeat lapsed (Step Functions retries the job)
    put_job_item(providers)
    ref = submit(providers)
    # When attempt 2 runs the same job with its own task token
    retried = dataclasses.replace(providers.job("generate", SEEDANCE, KEY), attempt=2, task_token=SECOND_TOKEN)
    with pytest.raises(JobDeferred):
        providers.executor.run(retried, lambda: None)
    # Then no second prediction is paid for
    assert len(providers.replicate.calls_to("POST", "/v1/models/")) == 1
    assert len(providers.replicate.predictions) == 1
    assert next(i for i in providers.items() if i["pk"]["S"].startswith("PREDICTION#"))["pk"]["S"].endswith(ref)
    # And the prediction's result answers the second attempt's task
    prediction_id = next(iter(providers.replicate.predictions))
    providers.replicate.finish(prediction_id, output=providers.replicate.serve_file("o.mp4", MP4, "video/mp4"))
    assert providers.checker.check(ref) == "succeeded"
    ((name, answer),) = providers.sfn.answered()
    assert (name, answer["taskToken"]) == ("success", SECOND_TOKEN)


def test_a_job_whose_prediction_is_settled_submits_anew_on_its_next_attempt(providers: Harness) -> None:
    put_job_item(providers)
    ref = submit(providers)
    providers.replicate.finish(next(iter(providers.replicate.predictions)), error="out of memory")
    assert providers.checker.check(ref) == "failed"
    retried = dataclasses.replace(providers.job("generate", SEEDANCE, KEY), attempt=2, task_token=SECOND_TOKEN)
    with pytest.raises(JobDeferred):
        providers.executor.run(retried, lambda: None)
    assert len(providers.replicate.calls_to("POST", "/v1/models/")) == 2  # a failed prediction is not adopted


def test_every_check_heartbeats_even_when_the_provider_is_unavailable(providers: Harness) -> None:
    ref = submit(providers)
    providers.replicate.script("get", *[Scripted(503, {"detail": "unavailable"})] * 3)
    assert providers.checker.check(ref) == "provider unavailable"
    assert [(name, kw["taskToken"]) for name, kw in providers.sfn.calls] == [("heartbeat", TOKEN)]


def test_the_lease_is_shorter_than_the_tasks_heartbeat_and_renewed_during_a_long_copy(
    providers: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execution_api.engine.settings import WorkerSettings
    from execution_api.providers import checker

    assert WorkerSettings.model_fields["job_heartbeat_seconds"].default > checker.LEASE_SECONDS
    ref = submit(providers)
    prediction_id = next(iter(providers.replicate.predictions))
    providers.replicate.finish(prediction_id, output=providers.replicate.serve_file("o.mp4", MP4, "video/mp4"))
    ticks = iter(range(0, 10_000, 31))  # each look at the clock 31 s later: every chance to beat is taken
    monkeypatch.setattr(providers.checker, "monotonic", lambda: float(next(ticks)))
    leases: list[str] = []
    original_upload = providers.checker.s3.upload_file

    class SlowS3:  # the upload reports progress, as boto3's transfer does; the lease is read meanwhile
        def __getattr__(self, name: str) -> Any:
            return getattr(providers.s3, name)

        def upload_file(self, *args: Any, Callback: Any = None, **kwargs: Any) -> None:
            for sent in (1, 2, 3):
                providers.clock.advance(100)  # 300 s of upload: longer than the lease
                Callback(sent)
                item = next(i for i in providers.items() if i["pk"]["S"] == f"PREDICTION#{ref}")
                leases.append(item["leaseUntil"]["S"])
            original_upload(*args, **kwargs)

    monkeypatch.setattr(providers.checker, "s3", SlowS3())
    assert providers.checker.check(ref) == "succeeded"
    assert len(set(leases)) == 3  # renewed with each heartbeat while the copy went on
    assert providers.sfn.answers() == ["success"]
    assert [name for name, _ in providers.sfn.calls].count("heartbeat") >= 4  # at the start, then during the copy


class BrokenS3:
    """S3 refusing the upload with an AWS error that is not the job's fault (a throttle)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject")


def test_an_unexpected_error_after_the_lease_is_taken_releases_it_and_fails_the_job_after_five(
    providers: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = submit(providers)
    providers.replicate.finish(
        next(iter(providers.replicate.predictions)), output=providers.replicate.serve_file("o.mp4", MP4, "video/mp4")
    )
    monkeypatch.setattr(providers.checker, "s3", BrokenS3(providers.checker.s3))
    for _ in range(4):
        assert providers.checker.check(ref) == "error, checked again later"
        record = providers.predictions.get(ref)
        assert record is not None
        assert record.state == "submitted"  # the lease given back at once, not held for its whole length
    assert providers.sfn.answers() == []
    assert providers.checker.check(ref) == "failed"
    ((name, answer),) = providers.sfn.answered()
    assert name == "failure"
    assert answer["cause"].endswith("could not be settled: an internal error repeated 5 times")
    assert "SlowDown" not in json.dumps(answer)  # no AWS error text in the job's error
    assert providers.checker.check(ref) == "already settled"


def test_a_transcript_word_without_times_is_skipped_not_a_crash() -> None:
    from execution_api.providers.prediction import transcript_words

    output = {"segments": [{"words": [{"word": "hi", "start": 0.0, "end": 0.4}, {"word": "there"}]}]}
    assert transcript_words(output) == ({"word": "hi", "start": 0.0, "end": 0.4},)


def test_an_output_replicate_names_no_type_for_is_stored_as_what_its_bytes_are(providers: Harness) -> None:
    # Replicate's output is URLs only ("Predictions": output); seedream answers JPEGs though the model's kind
    # is "image" (PNG by default): the stored object says JPEG, by its bytes.
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
    params = {"provider": "replicate", "modelId": "bytedance/seedream-4", "prompt": "a cat"}
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job("generateImage", params, KEY), lambda: None)
    ref = next(
        i["pk"]["S"].removeprefix("PREDICTION#") for i in providers.items() if i["pk"]["S"].startswith("PREDICTION#")
    )
    url = providers.replicate.serve_file("out", jpeg, "application/octet-stream")
    providers.replicate.finish(next(iter(providers.replicate.predictions)), output=[url])
    assert providers.checker.check(ref) == "succeeded"
    output = json.loads(providers.sfn.answered()[0][1]["output"])["outputs"][0]
    assert (output["mimeType"], output["url"].rsplit(".", 1)[1]) == ("image/jpeg", "jpg")
    assert providers.object(output["url"]) == jpeg


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00", "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        (b"ID3\x03\x00", "audio/mpeg"),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_sniffed_mime_types(head: bytes, expected: str | None) -> None:
    from execution_api.providers.prediction import sniffed_mime_type

    assert sniffed_mime_type(head) == expected


def test_an_output_that_fills_the_workers_disk_fails_the_job_in_words_at_once_and_leaves_no_file(
    providers: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    # Given a worker whose disk fills part-way through the copy of a provider's output (ENOSPC on a write)
    fill_the_disk_during_downloads(monkeypatch, tmp_path)
    ref = submit(providers)
    url = providers.replicate.serve_file("out.mp4", MP4, "video/mp4")
    providers.replicate.finish(next(iter(providers.replicate.predictions)), output=url)
    # When the prediction is checked
    outcome = providers.checker.check(ref)
    # Then the job failed at once (a retried copy would fill the same disk on every poll until States.Timeout)
    assert outcome == "failed", outcome
    ((name, answer),) = providers.sfn.answered()
    assert name == "failure"
    assert answer["error"] == "Job.Failed"
    assert answer["cause"].startswith("the output of the replicate prediction cannot be copied: ")
    assert "the job's inputs and output need more than the " in answer["cause"]
    assert " GB of disk this worker has" in answer["cause"]
    assert str(tmp_path) not in answer["cause"]
    # And the prediction is settled (the poller stops), its partial file removed with its work directory
    assert providers.checker.check(ref) == "already settled"
    assert list(tmp_path.iterdir()) == []
