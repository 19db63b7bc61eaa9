"""The media worker in the engine, with real ffmpeg: media jobs go to the media queue, outputs land in the
private bucket under the tenant's prefix, a dependent job reads its input from the bucket, the status
presents presigned GETs, and every bad input fails its job in words, never retried unless transient."""

from __future__ import annotations

import json
import os
import pathlib
import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from execution_api.storage.outputs import tenant_prefix
from tests.engine.conftest import Engine
from tests.fake_media import media_host
from tests.support import fill_the_disk_during_downloads

__all__ = ["media_host"]  # the fixture

MEDIA_WORKER = "MediaWorkerFunction"
SMALL = {"duration": 1, "aspectRatio": "16:9", "resolution": "480p"}
pytestmark = pytest.mark.engine_settings(MEDIA_X264_PRESET="ultrafast", SIMULATED_JOB_MS="0")


def queued(engine: Engine, queue: str) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    attributes = sqs.get_queue_attributes(
        QueueUrl=engine.stack.names[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def stored_job(engine: Engine, execution_id: str, job_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(engine.stack.names["ExecutionsTable"])
    item: dict[str, Any] = table.get_item(Key={"pk": f"TENANT#local#EXECUTION#{execution_id}", "sk": f"JOB#{job_id}"})[
        "Item"
    ]
    return item


def test_media_jobs_run_on_the_media_worker_and_their_outputs_are_private_objects(engine: Engine) -> None:
    # Given the media worker held back, and a plan: a generated clip, reframed to 9:16, and a made-up job
    engine.sources.paused.add(MEDIA_WORKER)
    execution_id = engine.submit(
        {"id": "other", "operation": "madeUpOperation"},
        {"id": "clip", "operation": "generate", "params": {"prompt": "a cat on a skateboard", **SMALL}},
        {"id": "tall", "operation": "reframe", "params": {"aspectRatio": "9:16"}, "dependsOn": ["clip"]},
    )
    # When the engine runs it: the generation (local provider) waits on the media queue, the made-up one
    # runs on the work queue's simulated executor
    engine.run_until(
        lambda: queued(engine, "MediaQueue") == 1 and engine.jobs(execution_id)["other"]["status"] == "completed"
    )
    assert engine.jobs(execution_id)["clip"]["status"] == "processing"
    engine.sources.paused.clear()
    status = engine.run(execution_id, timeout_s=120)

    # Then every job completed, with the result shape of docs/api.md
    assert status["status"] == "completed", status
    jobs = engine.jobs(execution_id)
    [tall] = jobs["tall"]["result"]["outputs"]
    assert (tall["type"], tall["mimeType"]) == ("video", "video/mp4")
    assert tall["width"] / tall["height"] == pytest.approx(9 / 16, abs=0.01)
    assert tall["durationSeconds"] == pytest.approx(1.0, abs=1 / 24)
    assert tall["bytes"] > 1000
    # And the client gets presigned GETs of the bucket, the execution's result too
    bucket = engine.stack.names["OutputsBucket"]
    for url in (tall["url"], status["result"]["url"]):
        parts = urlsplit(url)
        # https on AWS (and moto in process); the local backend's own scheme under ministack
        assert parts.scheme == urlsplit(os.environ.get("AWS_ENDPOINT_URL") or "https://s3").scheme
        assert bucket in parts.netloc + parts.path
        assert "X-Amz-Signature" in parse_qs(parts.query)
    # And the table keeps stable references under the tenant's prefix, never a presigned URL
    stored = json.loads(stored_job(engine, execution_id, "tall")["result"])
    reference = stored["outputs"][0]["url"]
    assert reference.startswith(f"s3://{bucket}/{tenant_prefix('local')}/{execution_id}/")
    assert stored["outputs"][0]["bytes"] == tall["bytes"]
    # And the objects are there, typed, in a bucket that blocks public access
    s3 = boto3.client("s3", region_name="us-east-1")
    key = reference.split("/", 3)[3]
    head = s3.head_object(Bucket=bucket, Key=key)
    assert (head["ContentType"], head["ContentLength"]) == ("video/mp4", tall["bytes"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 2
    assert all(k.startswith(f"{tenant_prefix('local')}/{execution_id}/") for k in keys)
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4
    # And the dependent job got the clip as a bucket reference (read from the bucket, not over HTTP)
    clip_reference = json.loads(stored_job(engine, execution_id, "clip")["result"])["outputs"][0]["url"]
    assert clip_reference.startswith("s3://")


def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused, as by a host that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def reframe(url: str) -> tuple[str, dict[str, Any]]:
    return "reframe", {"videoUrl": url, "aspectRatio": "9:16"}


@pytest.mark.engine_settings(ALLOW_INSECURE_INPUTS="true", MEDIA_X264_PRESET="ultrafast", SIMULATED_JOB_MS="0")
def test_every_bad_input_fails_its_job_in_words_and_only_a_transient_one_is_retried(
    engine: Engine, media_host: str
) -> None:
    # Given jobs whose inputs are each a bad input of issue 21 point 4
    unreadable = "is not a media file ffmpeg can read (corrupt or of an unsupported format)"
    words = [{"word": "hello", "start": 0, "end": 0.5}]
    bad = {
        "missing": (reframe(f"{media_host}/missing.mp4"), "cannot be downloaded (the server answered 404)"),
        "page": (reframe(f"{media_host}/page.mp4"), "is a web page (text/html), not a media file"),
        "empty": (reframe(f"{media_host}/empty.mp4"), "is empty (zero bytes)"),
        "huge": (reframe(f"{media_host}/huge.mp4"), "is larger than the 2,147,483,648 bytes a media input may have"),
        "private": (reframe("http://10.0.0.7/clip.mp4"), "a private address, which the service will not call"),
        "metadata": (reframe(f"{media_host}/to-metadata.mp4"), "link-local"),
        "corrupt": (reframe(f"{media_host}/clip.mp4"), f"the input at /params/videoUrl {unreadable}"),
        "unsupported": (reframe(f"{media_host}/notes.txt"), f"the input at /params/videoUrl {unreadable}"),
        "unreachable": (
            reframe(f"http://127.0.0.1:{closed_port()}/clip.mp4"),
            "is unreachable (the server refused the connection)",
        ),
        "image": (
            ("addSubtitles", {"videoUrl": f"{media_host}/photo.png", "transcript": words}),
            "the input at /params/videoUrl is an image; addSubtitles needs a video",
        ),
        "busy": (reframe(f"{media_host}/busy.mp4"), "is unavailable for now (the server answered 503)"),
    }
    execution_id = engine.submit(
        *({"id": job_id, "operation": operation, "params": params} for job_id, ((operation, params), _) in bad.items())
    )
    # When the engine runs them on the real media worker
    status = engine.run(execution_id, timeout_s=120)
    # Then each failed with a sentence a person understands, naming no path of the worker's disk
    assert status["status"] == "failed"
    jobs = engine.jobs(execution_id)
    for job_id, (_, expected) in bad.items():
        error = jobs[job_id]["error"]
        assert jobs[job_id]["status"] == "failed", job_id
        assert expected in error, (job_id, error)
        assert "/tmp" not in error, error
        assert "Traceback" not in error, error
    # And only the transient one was tried again (JOB_MAX_ATTEMPTS), the others once
    attempts = {job_id: int(stored_job(engine, execution_id, job_id)["attempts"]) for job_id in bad}
    assert attempts == {**dict.fromkeys(bad, 1), "busy": 3}


@pytest.mark.engine_settings(ALLOW_INSECURE_INPUTS="true", MEDIA_X264_PRESET="ultrafast", SIMULATED_JOB_MS="0")
def test_a_job_whose_input_fills_the_workers_disk_fails_once_in_words_and_leaves_no_file(
    engine: Engine, media_host: str, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    # Given a media worker whose disk fills part-way through a download (ENOSPC on a write)
    fill_the_disk_during_downloads(monkeypatch, tmp_path)
    operation, params = reframe(f"{media_host}/clip.mp4")
    execution_id = engine.submit({"id": "big", "operation": operation, "params": params})
    # When the engine runs it on the media worker
    status = engine.run(execution_id, timeout_s=60)
    # Then it failed once (not retried until the task times out) with a sentence about the disk
    assert status["status"] == "failed"
    error = engine.jobs(execution_id)["big"]["error"]
    assert error.startswith("the job's inputs and output need more than the "), error
    assert error.endswith(" GB of disk this worker has; use smaller or fewer inputs")
    assert str(tmp_path) not in error
    assert int(stored_job(engine, execution_id, "big")["attempts"]) == 1
    # And the partial download went with the job's work directory
    assert list(tmp_path.glob("media-job-*")) == []
    assert list(tmp_path.rglob("input-*")) == []
