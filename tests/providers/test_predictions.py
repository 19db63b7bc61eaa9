"""Generation on Replicate and fal by callback, not waiting (issue 22 points 2, 3, 5, 7): the worker submits
and returns, a signed callback (or the poller) has a worker settle the prediction, the outputs are copied
into the bucket before the task is answered, and every failure is a sentence that says whether trying
again can help. The fakes (tests/providers/fakes.py) cite the documented fact behind each behaviour."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from execution_api.engine.executors import JobDeferred, JobFailed
from execution_api.providers.signatures import BadSignature
from tests.providers.conftest import TOKEN, Harness
from tests.providers.fakes import MP4, PNG, FalFake, Scripted

SEEDANCE = {"provider": "replicate", "modelId": "bytedance/seedance-1-pro", "prompt": "a cat", "aspectRatio": "9:16"}
KEY = {"replicate": "r8_fake_token_0123456789"}


def submit(providers: Harness, params: dict[str, object] | None = None, keys: dict[str, str] | None = None) -> str:
    """Runs the job on the executor, which must defer; the ref of the recorded prediction."""
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job("generate", params or SEEDANCE, keys or KEY), lambda: None)
    refs = [
        i["pk"]["S"].removeprefix("PREDICTION#") for i in providers.items() if i["pk"]["S"].startswith("PREDICTION#")
    ]
    assert len(refs) == 1
    return refs[-1]


def test_success_by_callback_copies_the_output_and_answers_the_task_once(providers: Harness) -> None:
    # Given a submitted prediction
    ref = submit(providers)
    create = providers.replicate.calls_to("POST", "/v1/models/")[0]
    assert create.path == "/v1/models/bytedance/seedance-1-pro/predictions"
    sent = create.json()
    assert sent["input"] == {"prompt": "a cat", "aspect_ratio": "9:16"}  # the unified option mapped, not dropped
    assert sent["webhook"] == f"https://api.example.com/prod/api/providers/replicate/callbacks/{ref}"
    assert sent["webhook_events_filter"] == ["completed"]
    assert len(ref) >= 43  # 256 random bits
    # and nothing secret in clear in the table
    dump = json.dumps(providers.items(), default=str)
    for secret in (KEY["replicate"], TOKEN, providers.replicate.secret):
        assert secret not in dump
    # When the prediction succeeds and Replicate calls back, signed
    prediction_id = next(iter(providers.replicate.predictions))
    url = providers.replicate.serve_file("out.mp4", MP4, "video/mp4")
    providers.replicate.finish(prediction_id, output=url)
    body, headers = providers.replicate.signed_callback(prediction_id)
    assert providers.callbacks.receive("replicate", ref, body, headers) == "accepted"
    assert providers.enqueued == [ref]
    # Then the worker that takes the message copies the output and completes the task
    assert providers.checker.check(ref) == "succeeded"
    ((name, answer),) = providers.sfn.answered()
    result = json.loads(answer["output"])
    assert name == "success"
    assert answer["taskToken"] == TOKEN
    output = result["outputs"][0]
    assert output["url"].startswith("s3://")
    assert output["mimeType"] == "video/mp4"
    assert output["type"] == "video"
    assert providers.object(output["url"]) == MP4
    assert output["bytes"] == len(MP4)
    assert result["metadata"] == {
        "provider": "replicate",
        "modelId": "bytedance/seedance-1-pro",
        "predictionId": prediction_id,
    }
    # And a duplicate or late callback (a new signed message: Replicate's own retry) is applied once
    late_body, late_headers = providers.replicate.signed_callback(prediction_id, at=time.time() + 60)
    assert providers.callbacks.receive("replicate", ref, late_body, late_headers) == "already settled"
    with pytest.raises(BadSignature):  # while the same message again is a replay
        providers.callbacks.receive("replicate", ref, body, headers)
    assert providers.checker.check(ref) == "already settled"
    assert providers.sfn.answers() == ["success"]


def test_success_by_polling_when_the_callback_is_lost_and_heartbeats_meanwhile(providers: Harness) -> None:
    ref = submit(providers)
    prediction_id = next(iter(providers.replicate.predictions))
    from execution_api.providers.callbacks import poll_due

    # Not due before the poll interval
    assert poll_due(providers.predictions, providers.enqueued.append, 60) == 0
    providers.clock.advance(61)
    assert poll_due(providers.predictions, providers.enqueued.append, 60) == 1
    # A running prediction: its task gets a heartbeat, and it is not due again at once
    assert providers.checker.check(ref) == "running"
    assert [name for name, _ in providers.sfn.calls] == ["heartbeat"]
    assert poll_due(providers.predictions, providers.enqueued.append, 60) == 0
    # When it finishes, the next poll settles it
    providers.replicate.finish(prediction_id, output=[providers.replicate.serve_file("a.mp4", MP4, "video/mp4")])
    providers.clock.advance(61)
    assert poll_due(providers.predictions, providers.enqueued.append, 60) == 1
    assert providers.checker.check(ref) == "succeeded"
    assert providers.sfn.answers() == ["success"]
    providers.clock.advance(3600)
    assert poll_due(providers.predictions, providers.enqueued.append, 60) == 0  # settled: out of the index


def test_a_forged_or_replayed_callback_is_refused_and_changes_nothing(providers: Harness) -> None:
    ref = submit(providers)
    prediction_id = next(iter(providers.replicate.predictions))
    providers.replicate.finish(prediction_id, output=providers.replicate.serve_file("x.mp4", MP4, "video/mp4"))
    body, headers = providers.replicate.signed_callback(prediction_id)
    forged = {**headers, "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    old_body, old_headers = providers.replicate.signed_callback(prediction_id, at=time.time() - 600)
    tampered = body.replace(b"succeeded", b"failed")
    for attempt_body, attempt_headers, provider, where in (
        (body, forged, "replicate", ref),  # a signature made without the secret
        (old_body, old_headers, "replicate", ref),  # a genuine callback replayed 10 minutes later
        (tampered, headers, "replicate", ref),  # the body changed under a genuine signature
        (body, {}, "replicate", ref),  # no signature at all
        (body, headers, "fal", ref),  # another provider's route
        (body, headers, "replicate", "not-a-ref"),  # an unknown ref
    ):
        with pytest.raises(BadSignature):
            providers.callbacks.receive(provider, where, attempt_body, attempt_headers)
    assert providers.enqueued == []
    assert providers.sfn.calls == []
    record = providers.predictions.get(ref)
    assert record is not None
    assert record.state == "submitted"


@pytest.mark.parametrize(
    ("answer", "message", "retryable"),
    [
        (Scripted(401, {"detail": "Invalid token."}), "replicate rejected the API key", False),
        (
            Scripted(422, {"detail": "input.duration must be <= 10; your token r8_AbCdEf0123456789 was used"}),
            "replicate refused the input: input.duration must be <= 10; your [redacted] was used",
            False,
        ),
        # Three 503s in a row: tried three times (a 503 processed nothing), then left to Step Functions.
        (Scripted(503, {"detail": "unavailable"}), "replicate failed with HTTP 503", True),
    ],
    ids=["401-not-retried", "422-scrubbed", "503-on-create-tried-then-retryable"],
)
def test_refusals_are_sentences_retried_only_when_it_can_help(
    providers: Harness, answer: Scripted, message: str, retryable: bool
) -> None:
    providers.replicate.script("create", answer, answer, answer)
    with pytest.raises(JobFailed) as failed:
        providers.executor.run(providers.job("generate", SEEDANCE, KEY), lambda: None)
    assert failed.value.message == message
    assert failed.value.retryable is retryable
    assert not [i for i in providers.items() if i["pk"]["S"].startswith("PREDICTION#")]  # nothing recorded


def test_429_waits_for_retry_after_then_submits_and_a_long_wait_is_left_to_step_functions(providers: Harness) -> None:
    # Replicate's 429 body ("Rate limits"); Retry-After itself is unconfirmed for Replicate, standard HTTP.
    throttled = Scripted(429, {"detail": "Request was throttled. Your rate limit resets in ~7s."}, {"Retry-After": "7"})
    providers.replicate.script("create", throttled)
    submit(providers)
    assert providers.sleeps[:2] == [5.0, 2.0]  # 7 s, slept in slices with a heartbeat between
    providers.replicate.script("create", Scripted(429, {}, {"Retry-After": "3600"}))
    with pytest.raises(JobFailed) as failed:
        providers.executor.run(providers.job("generate", SEEDANCE, KEY), lambda: None)
    assert failed.value.retryable
    assert "rate limiting" in failed.value.message


def test_a_replicate_create_answered_503_then_success_runs_one_prediction(providers: Harness) -> None:
    # A 503 is Service Unavailable: the request was not processed (RFC 9110 15.6.4; the fake makes no
    # prediction): the create is sent again after 1 s, the job completes, and exactly one prediction ran.
    providers.replicate.script("create", Scripted(503, {"detail": "Service unavailable"}))
    ref = submit(providers)
    assert providers.sleeps == [1.0]
    assert len(providers.replicate.calls_to("POST", "/v1/models/")) == 2
    (prediction_id,) = providers.replicate.predictions
    providers.replicate.finish(prediction_id, output=providers.replicate.serve_file("v.mp4", MP4, "video/mp4"))
    assert providers.checker.check(ref) == "succeeded"
    assert providers.sfn.answers() == ["success"]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_replicate_create_answered_500_502_or_504_fails_in_words_and_is_not_sent_again(
    providers: Harness, status: int
) -> None:
    # Replicate documents nothing about its 5xx (OPERATIONS.md 5.1), and a 502/504 is often an edge proxy's
    # answer after Replicate's own server took the request: the fake creates the prediction, then answers the 5xx. Sent
    # again, it could run (and bill) twice; so, like a lost answer, the job fails in words, not retried.
    providers.replicate.script("create", Scripted(status, {"detail": "Bad gateway"}, processed=True))
    with pytest.raises(JobFailed) as failed:
        providers.executor.run(providers.job("generate", SEEDANCE, KEY), lambda: None)
    assert failed.value.message == (
        f"replicate answered HTTP {status} when asked to start the work; it was not asked again, since it may "
        "have started it anyway (check the replicate dashboard before running the job again)"
    )
    assert not failed.value.retryable
    assert len(providers.replicate.calls_to("POST", "/v1/models/")) == 1
    assert len(providers.replicate.predictions) == 1  # the one Replicate's server made; none twice
    assert providers.sleeps == []


@pytest.mark.parametrize("status", [500, 503, 504])
def test_a_fal_submit_answered_5xx_then_success_runs_one_request(providers: Harness, status: int) -> None:
    # fal: "5xx not billed" ("Reliability", OPERATIONS.md 5.2): a 5xx on submit queued nothing, so it is sent
    # again; the job completes on the one request that was queued.
    providers.fal.script("submit", Scripted(status, {"detail": "Internal server error"}))
    params = {"provider": "fal", "modelId": "fal-ai/nano-banana", "prompt": "a cat"}
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job("generateImage", params, {"fal": providers.fal.key}), lambda: None)
    (ref,) = [
        i["pk"]["S"].removeprefix("PREDICTION#") for i in providers.items() if i["pk"]["S"].startswith("PREDICTION#")
    ]
    assert providers.sleeps == [1.0]
    assert len(providers.fal.calls_to("POST", "/fal-ai/nano-banana")) == 2
    ((request_id, _),) = providers.fal.requests.items()
    image = providers.fal.serve_file("i.png", PNG, "image/png")
    providers.fal.finish(request_id, {"images": [{"url": image, "content_type": "image/png"}]})
    assert providers.checker.check(ref) == "succeeded"
    assert providers.sfn.answers() == ["success"]


def test_a_create_that_timed_out_reading_the_answer_is_not_sent_again(providers: Harness) -> None:
    # Unlike a 503, a lost answer leaves the outcome unknown: the fake made the prediction and answered too late.
    # Replicate documents no search of predictions by our callback ref (OPERATIONS.md 5.1) to find it again,
    # so the job fails in words, not retried, rather than pay for a second prediction.
    from execution_api.providers.transport import Transport

    slow = Scripted(201, {"id": "late"}, delay=0.5, processed=True)
    providers.replicate.script("create", slow)
    transport = Transport("replicate", KEY["replicate"], timeout_seconds=0.1, sleep=providers.sleeps.append)
    from execution_api.providers.replicate import ReplicateClient

    with pytest.raises(JobFailed) as failed:
        ReplicateClient(transport, providers.settings.base_url("replicate")).submit("owner/model", {}, None)
    assert failed.value.message.startswith("replicate did not answer in time when asked to start the work")
    assert not failed.value.retryable
    assert len(providers.replicate.calls_to("POST", "/v1/models/")) == 1


def test_a_create_that_never_connected_is_tried_again_and_a_read_is_tried_on_5xx(providers: Harness) -> None:
    import socket

    from execution_api.providers.transport import Transport

    with socket.socket() as closed:  # a port nobody listens on: connection refused, nothing was sent
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    transport = Transport("replicate", "k", sleep=providers.sleeps.append)
    with pytest.raises(JobFailed) as failed:
        transport.call("POST", f"http://127.0.0.1:{port}/v1/predictions", {}, b"{}", create=True)
    assert failed.value.retryable
    assert providers.sleeps == [1.0, 2.0]  # three attempts
    # 5xx then success on a read (GET): tried again, as before
    providers.replicate.script("get", Scripted(500, {"detail": "internal"}))
    providers.replicate.predictions["p1"] = {"id": "p1", "status": "processing", "output": None}
    reply = Transport("replicate", KEY["replicate"], sleep=providers.sleeps.append).call(
        "GET", f"{providers.replicate.base}/v1/predictions/p1", {"Authorization": f"Bearer {KEY['replicate']}"}
    )
    assert reply.json()["id"] == "p1"
    assert len(providers.replicate.calls_to("GET", "/v1/predictions/p1")) == 2


def test_a_failed_prediction_fails_the_job_with_its_error_text(providers: Harness) -> None:
    ref = submit(providers)
    providers.replicate.finish(next(iter(providers.replicate.predictions)), error="NSFW content detected in prompt")
    assert providers.checker.check(ref) == "failed"
    ((name, answer),) = providers.sfn.answered()
    assert name == "failure"
    assert answer["error"] == "Job.Failed"
    assert answer["cause"].endswith("failed: NSFW content detected in prompt")


def test_cancel_during_a_prediction_cancels_it_at_the_provider(providers: Harness) -> None:
    ref = submit(providers)
    providers.job_statuses["job1"] = "cancelled"  # POST /api/execute/{id}/cancel made the job cancelled
    assert providers.checker.check(ref) == "cancelled"
    assert next(iter(providers.replicate.predictions.values()))["status"] == "canceled"
    assert providers.sfn.calls == []  # the run is stopped: no task is waiting


def test_a_timed_out_task_stops_the_prediction_too(providers: Harness) -> None:
    ref = submit(providers)
    providers.sfn.stale = True  # the state's timeout passed
    assert providers.checker.check(ref) == "cancelled"
    assert next(iter(providers.replicate.predictions.values()))["status"] == "canceled"


def test_an_output_url_that_is_gone_fails_the_job_in_words(providers: Harness) -> None:
    ref = submit(providers)
    providers.replicate.finish(
        next(iter(providers.replicate.predictions)), output=f"{providers.replicate.base}/files/x"
    )
    assert providers.checker.check(ref) == "failed"
    ((name, answer),) = providers.sfn.answered()
    assert name == "failure"
    assert "cannot be copied" in answer["cause"]
    assert "404" in answer["cause"]


def test_a_pinned_version_goes_to_predictions_with_the_dependency_as_input(providers: Harness) -> None:
    params = {"provider": "replicate", "modelId": "nateraw/video-background-remover"}
    with pytest.raises(JobDeferred):
        providers.executor.run(
            providers.job("removeBackground", params, KEY, dependencies=["https://cdn.example.com/in.mp4"]),
            lambda: None,
        )
    create = providers.replicate.calls_to("POST", "/v1/predictions")[0].json()
    assert create["version"] == "ac5c138171b04413a69222c304f67c135e259d46089fc70ef12da685b3c604aa"
    assert create["input"] == {"video": "https://cdn.example.com/in.mp4"}


def test_fal_success_by_signed_callback_with_keys_from_the_configured_jwks(providers: Harness) -> None:
    params = {"provider": "fal", "modelId": "fal-ai/nano-banana", "prompt": "a cat", "outputFormat": "jpg"}
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job("generateImage", params, {"fal": providers.fal.key}), lambda: None)
    ref = next(
        i["pk"]["S"].removeprefix("PREDICTION#") for i in providers.items() if i["pk"]["S"].startswith("PREDICTION#")
    )
    ((request_id, request),) = providers.fal.requests.items()
    assert request["model"] == "fal-ai/nano-banana"
    assert request["input"] == {"prompt": "a cat", "output_format": "jpeg"}
    assert request["webhook"] == f"https://api.example.com/prod/api/providers/fal/callbacks/{ref}"
    image = providers.fal.serve_file("i.png", PNG, "image/png")
    # fal states each image's size (its schema's Image: url, content_type, width, height)
    providers.fal.finish(
        request_id, {"images": [{"url": image, "content_type": "image/png", "width": 1024, "height": 768}]}
    )
    body, headers = providers.fal.signed_callback(request_id)
    # A signature by another key, and a genuine one replayed 15 minutes later, are refused
    impostor = FalFake()
    impostor.requests = providers.fal.requests
    for bad_body, bad_headers in (
        impostor.signed_callback(request_id),
        providers.fal.signed_callback(request_id, at=time.time() - 900),
    ):
        with pytest.raises(BadSignature):
            providers.callbacks.receive("fal", ref, bad_body, bad_headers)
    assert providers.callbacks.receive("fal", ref, body, headers) == "accepted"
    assert providers.checker.check(ref) == "succeeded"
    result = json.loads(providers.sfn.answered()[0][1]["output"])
    assert providers.object(result["outputs"][0]["url"]) == PNG
    assert result["outputs"][0]["mimeType"] == "image/png"
    assert (result["outputs"][0]["width"], result["outputs"][0]["height"]) == (1024, 768)


def test_a_fal_request_with_an_error_fails_with_its_message(providers: Harness) -> None:
    params = {"provider": "fal", "modelId": "veed/fabric-1.0", "image": "https://x/a.png", "audio": "https://x/a.mp3"}
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job("lipSync", params, {"fal": providers.fal.key}), lambda: None)
    ref = next(
        i["pk"]["S"].removeprefix("PREDICTION#") for i in providers.items() if i["pk"]["S"].startswith("PREDICTION#")
    )
    ((request_id, request),) = providers.fal.requests.items()
    assert request["input"] == {"image_url": "https://x/a.png", "audio_url": "https://x/a.mp3", "resolution": "720p"}
    providers.fal.finish(request_id, {"detail": [{"msg": "image_url could not be downloaded"}]}, status=422)
    assert providers.checker.check(ref) == "failed"
    assert providers.sfn.answered()[0][1]["cause"] == (
        "fal prediction fal-1 failed: fal refused the input: image_url could not be downloaded"
    )


def test_fals_keys_are_cached_and_a_failed_signature_refetches_them_at_most_every_five_minutes() -> None:
    from execution_api.providers.signatures import FalKeys, verify_fal

    fake, now, fetches = FalFake(), [1_000_000.0], []
    fake.requests["r1"] = {"payload": {"images": []}}

    def fetch() -> bytes:
        fetches.append(now[0])
        return fake.jwks()

    keys = FalKeys(fetch, clock=lambda: now[0])
    body, headers = fake.signed_callback("r1", at=now[0])
    verify_fal(keys, body, headers, now=now[0])
    verify_fal(keys, body, headers, now=now[0])
    assert len(fetches) == 1  # cached
    for _ in range(3):  # forgeries right after: no refetch within five minutes
        with pytest.raises(BadSignature):
            verify_fal(keys, body.replace(b"images", b"imagez"), headers, now=now[0])
    assert len(fetches) == 1
    now[0] += 301
    with pytest.raises(BadSignature):
        verify_fal(keys, body, headers, now=now[0])  # too old by now, refused before any fetch
    assert len(fetches) == 1


def test_a_fal_error_echoing_a_credential_of_the_plan_is_scrubbed_when_settled(providers: Harness) -> None:
    from execution_api.core.credentials import CredentialVault, seal
    from execution_api.models.records import Execution
    from execution_api.storage.items import execution_item

    # Given a plan whose job gives an input URL with a password in it: sealed at intake with the execution's
    # credentials, opened by the worker, passed to fal (no credential-like word in it for a pattern to catch)
    image = "https://editor:Pa55w0rdXYZ@media.example.com/a.png"
    vault = CredentialVault()
    vault.add(image)
    sealed = seal(providers.checker.cipher, "exec-1", vault)
    execution = Execution("exec-1", "tenant-a", "processing", "c", "u", 1, ("a",), 1, sealed_credentials=sealed)
    item = execution_item(execution, "w")  # the execution as intake stores it
    boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=providers.table, Item=item)
    params = {"provider": "fal", "modelId": "veed/fabric-1.0", "image": image, "audio": "https://x/a.mp3"}
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job("lipSync", params, {"fal": providers.fal.key}), lambda: None)
    ((request_id, request),) = providers.fal.requests.items()
    assert request["input"]["image_url"] == image
    ref = next(
        i["pk"]["S"].removeprefix("PREDICTION#") for i in providers.items() if i["pk"]["S"].startswith("PREDICTION#")
    )
    # When fal fails the request with an error that repeats the URL, and calls back
    providers.fal.finish(request_id, {"detail": [{"msg": f"could not download {image}"}]}, status=422)
    body, headers = providers.fal.signed_callback(request_id, status="ERROR", error=f"could not download {image}")
    assert providers.callbacks.receive("fal", ref, body, headers) == "accepted"
    assert providers.checker.check(ref) == "failed"
    # Then the task fails with fal's words, the URL with its password replaced
    ((name, answer),) = providers.sfn.answered()
    assert name == "failure"
    assert answer["cause"] == "fal prediction fal-1 failed: fal refused the input: could not download [redacted]"
