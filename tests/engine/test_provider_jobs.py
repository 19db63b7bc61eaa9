"""Provider jobs through the real state machine (moto executing the template's definition): the worker submits
and returns while the task waits for its token; a signed callback, or the poller when none comes, has a
worker settle the prediction; cancelling the execution cancels the prediction at the provider. The key is
never in clear in the table nor in the state machine's history."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.events import rest_api_event
from local.stack import forget_cached_configuration
from tests.engine.conftest import Engine
from tests.providers.fakes import MP4, ReplicateFake, serving
from tests.support import stored_items


@pytest.fixture
def replicate(engine: Engine) -> Iterator[ReplicateFake]:
    with serving(ReplicateFake()) as fake:
        assert isinstance(fake, ReplicateFake)
        os.environ.update(
            {
                "REPLICATE_API_URL": f"{fake.base}/v1",
                "PROVIDER_CALLBACK_BASE_URL": "https://api.example.com/dev",
                "ALLOW_INSECURE_INPUTS": "true",  # the fake's files are on http://127.0.0.1
                "PROVIDER_POLL_SECONDS": "1",
            }
        )  # the engine fixture restores the environment
        forget_cached_configuration()
        yield fake


def submit(engine: Engine, fake: ReplicateFake) -> str:
    params = {"provider": "replicate", "modelId": "minimax/video-01", "prompt": "a cat", "apiKey": fake.key}
    execution_id = engine.submit({"id": "a", "operation": "generate", "params": params})
    engine.run_until(lambda: bool(fake.predictions) and bool(refs(engine)))
    assert engine.jobs(execution_id)["a"]["status"] == "processing"  # the task waits; no worker does
    return execution_id


def refs(engine: Engine) -> list[str]:
    keys = [item["pk"]["S"] for item in stored_items(engine.stack)]
    return [key.removeprefix("PREDICTION#") for key in keys if key.startswith("PREDICTION#")]


def history_text(engine: Engine) -> str:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    events = [sfn.get_execution_history(executionArn=run["executionArn"])["events"] for run in engine.runs()]
    return json.dumps(events, default=str)


def test_a_prediction_completes_its_job_by_signed_callback(engine: Engine, replicate: ReplicateFake) -> None:
    execution_id = submit(engine, replicate)
    (prediction_id,) = replicate.predictions
    replicate.finish(prediction_id, output=replicate.serve_file("v.mp4", MP4, "video/mp4"))
    settle_by_callback(engine, replicate, prediction_id)
    status = engine.run(execution_id)
    assert status["status"] == "completed", status
    result = engine.jobs(execution_id)["a"]["result"]
    assert result["metadata"]["predictionId"] == prediction_id
    output = result["outputs"][0]
    assert output["mimeType"] == "video/mp4"
    assert output["bytes"] == len(MP4)
    assert output["url"].startswith("http")  # a presigned GET of our own copy
    assert replicate.base not in json.dumps(status)  # never the provider's expiring URL
    assert replicate.key not in json.dumps(stored_items(engine.stack), default=str)
    assert replicate.key not in history_text(engine)


def test_the_poller_completes_a_prediction_whose_callback_never_came(engine: Engine, replicate: ReplicateFake) -> None:
    execution_id = submit(engine, replicate)
    (prediction_id,) = replicate.predictions
    replicate.finish(prediction_id, output=[replicate.serve_file("v.mp4", MP4, "video/mp4")])
    time.sleep(1.1)  # PROVIDER_POLL_SECONDS
    assert engine.call("PredictionPollerFunction", {}) == {"sent": 1}
    assert engine.run(execution_id)["status"] == "completed"


def test_a_create_answered_503_is_sent_again_and_the_job_completes_on_one_prediction(
    engine: Engine, replicate: ReplicateFake
) -> None:
    from tests.providers.fakes import Scripted

    # Given Replicate answering the first create with a 503 (Service Unavailable: no prediction made)
    replicate.script("create", Scripted(503, {"detail": "Service unavailable"}))
    # When the job runs: the create is sent again within the attempt, and the task waits for that prediction
    execution_id = submit(engine, replicate)
    assert len(replicate.calls_to("POST", "/v1/models/")) == 2
    (prediction_id,) = replicate.predictions
    replicate.finish(prediction_id, output=[replicate.serve_file("v.mp4", MP4, "video/mp4")])
    time.sleep(1.1)  # PROVIDER_POLL_SECONDS
    assert engine.call("PredictionPollerFunction", {}) == {"sent": 1}
    # Then the job completes on the one prediction Replicate ran
    assert engine.run(execution_id)["status"] == "completed"
    assert engine.jobs(execution_id)["a"]["result"]["metadata"]["predictionId"] == prediction_id
    assert len(replicate.predictions) == 1


def test_a_create_answered_502_fails_the_job_in_words_and_step_functions_does_not_retry_it(
    engine: Engine, replicate: ReplicateFake
) -> None:
    from tests.providers.fakes import Scripted

    # Given an edge proxy answering 502 after Replicate's own server created the prediction (outcome unknown)
    replicate.script("create", Scripted(502, {"detail": "Bad gateway"}, processed=True))
    params = {"provider": "replicate", "modelId": "minimax/video-01", "prompt": "a cat", "apiKey": replicate.key}
    execution_id = engine.submit({"id": "a", "operation": "generate", "params": params})
    # When the job runs to its end
    status = engine.run(execution_id)
    # Then it failed in words after one create, and no attempt of Step Functions' retry created another
    assert status["status"] == "failed", status
    assert engine.jobs(execution_id)["a"]["error"].startswith(
        "replicate answered HTTP 502 when asked to start the work; it was not asked again"
    )
    assert len(replicate.calls_to("POST", "/v1/models/")) == 1
    assert len(replicate.predictions) == 1


def test_a_key_given_only_in_the_options_reaches_the_provider(engine: Engine, replicate: ReplicateFake) -> None:
    # Given a job whose params hold no credential at all: the key is only in options.providerApiKeys
    params = {"provider": "replicate", "modelId": "minimax/video-01", "prompt": "a cat"}
    body = {
        "executionPlan": {"jobs": [{"id": "a", "operation": "generate", "params": params}]},
        "options": {"providerApiKeys": {"replicate": replicate.key}},
    }
    answer = engine.api.submit(body)
    assert answer.status == 202, answer.body
    execution_id = answer.body["id"]
    # When the worker runs it, then the prediction is made with that key (the fake answers 401 to any other,
    # and the job would fail naming the ways to give a key), and the task waits for it
    engine.run_until(lambda: bool(replicate.predictions) and bool(refs(engine)))
    assert engine.jobs(execution_id)["a"]["status"] == "processing"
    assert replicate.key not in json.dumps(stored_items(engine.stack), default=str)
    (prediction_id,) = replicate.predictions
    replicate.finish(prediction_id, output=[replicate.serve_file("v.mp4", MP4, "video/mp4")])
    time.sleep(1.1)  # PROVIDER_POLL_SECONDS
    assert engine.call("PredictionPollerFunction", {}) == {"sent": 1}
    assert engine.run(execution_id)["status"] == "completed"
    assert replicate.key not in history_text(engine)


def test_cancelling_the_execution_cancels_its_running_prediction(engine: Engine, replicate: ReplicateFake) -> None:
    execution_id = submit(engine, replicate)
    assert engine.cancel(execution_id).status == 202
    # The cancel route queued a check of the prediction: a worker cancels it at the provider, no poll needed
    engine.run_until(lambda: next(iter(replicate.predictions.values()))["status"] == "canceled")
    time.sleep(1.1)  # PROVIDER_POLL_SECONDS: the prediction would be due now, were it not settled
    assert engine.call("PredictionPollerFunction", {}) == {"sent": 0}
    status = engine.status(execution_id)  # the original backend's form of a cancelled execution (docs/api.md)
    assert (status["status"], status["cancelled"], status["jobs"][0]["cancelled"]) == ("failed", True, True)


def run_job_timeouts(engine: Engine) -> dict[str, int]:
    """Each job's RunJob task as Step Functions scheduled it: the job's id and the task's timeout."""
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    found: dict[str, int] = {}
    for run in engine.runs():
        for event in sfn.get_execution_history(executionArn=run["executionArn"])["events"]:
            details = event.get("taskScheduledEventDetails")
            body = json.loads(details["parameters"])["MessageBody"] if details else {}
            if "job" in body:  # RunJob's message; the gate and the records carry no job
                found[body["job"]["id"]] = details["timeoutInSeconds"]
    return found


@pytest.mark.moto_only("ministack 1.5.33's history records no parameters or timeout of a scheduled task")
def test_a_provider_job_waits_its_own_longer_timeout(engine: Engine, replicate: ReplicateFake) -> None:
    # Given a prediction on Replicate and a job that needs no provider, in one plan
    params = {"provider": "replicate", "modelId": "minimax/video-01", "prompt": "a cat", "apiKey": replicate.key}
    engine.submit(
        {"id": "video", "operation": "generate", "params": params}, {"id": "quick", "params": {"simulate": {"ms": 0}}}
    )
    # When both reach their RunJob task
    engine.run_until(lambda: bool(replicate.predictions) and len(run_job_timeouts(engine)) == 2)
    # Then the prediction's task waits ProviderJobTimeoutSeconds (3600), the other JobTimeoutSeconds (900)
    assert run_job_timeouts(engine) == {"video": 3600, "quick": 900}


HF_TOKEN = "hf_abcdEFGH1234"  # a credential of the job's own (params.hf_token), passed on to the model as input
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def settle_by_callback(engine: Engine, fake: ReplicateFake, prediction_id: str) -> None:
    (ref,) = refs(engine)
    body, headers = fake.signed_callback(prediction_id)
    event = rest_api_event(
        "POST",
        f"/api/providers/replicate/callbacks/{ref}",
        resource="/api/providers/{provider}/callbacks/{ref}",
        path_parameters={"provider": "replicate", "ref": ref},
        headers={"Content-Type": "application/json", **headers},
        body=body,
    )
    assert engine.api.call("ProviderCallbackFunction", event).status == 200


def settle_by_poller(engine: Engine, fake: ReplicateFake, prediction_id: str) -> None:
    time.sleep(1.1)  # PROVIDER_POLL_SECONDS
    assert engine.call("PredictionPollerFunction", {}) == {"sent": 1}


@pytest.mark.engine_settings(ALLOW_INSECURE_WEBHOOKS="true", WEBHOOK_RETRY_SCHEDULE="0,0,0")
@pytest.mark.parametrize("settle", [settle_by_callback, settle_by_poller], ids=["callback", "poller"])
def test_a_failed_prediction_echoing_an_opened_credential_never_shows_it(
    engine: Engine, replicate: ReplicateFake, settle: Any
) -> None:
    from tests.webhooks.receiver import ScriptedAnswer, receiver

    with receiver(ScriptedAnswer(204)) as hook:
        # Given a job whose params hold a credential the model takes as input (sealed at intake, opened by the worker)
        params = {"provider": "replicate", "modelId": "minimax/video-01", "prompt": "a cat", "apiKey": replicate.key,
                  "hf_token": HF_TOKEN}  # fmt: skip
        body = {
            "executionPlan": {"jobs": [{"id": "a", "operation": "generate", "params": params}]},
            "options": {"webhookUrl": hook.url, "webhookSecret": WEBHOOK_SECRET},
        }
        answer = engine.api.submit(body)
        assert answer.status == 202, answer.body
        execution_id = answer.body["id"]
        engine.run_until(lambda: bool(replicate.predictions) and bool(refs(engine)))
        (prediction_id,) = replicate.predictions
        assert replicate.predictions[prediction_id]["input"]["hf_token"] == HF_TOKEN  # the provider got it
        # When the prediction fails with an error that echoes it, and is settled later
        replicate.finish(prediction_id, error=f"invalid hf_token {HF_TOKEN} given")
        settle(engine, replicate, prediction_id)
        status = engine.run(execution_id)
        engine.run_until(lambda: len(hook.received) >= 1)
    # Then the job failed with the provider's words, the credential replaced in the status, the state machine's
    # history and the webhook
    assert status["status"] == "failed"
    error = engine.jobs(execution_id)["a"]["error"]
    assert error == f"replicate prediction {prediction_id} failed: invalid hf_token [redacted] given"
    assert HF_TOKEN not in json.dumps(status)
    assert "[redacted]" in history_text(engine)
    assert HF_TOKEN not in history_text(engine)
    delivered = [request.body.decode() for request in hook.received]
    assert any("[redacted]" in text for text in delivered)
    assert not any(HF_TOKEN in text for text in delivered)
    assert HF_TOKEN not in json.dumps(stored_items(engine.stack), default=str)


def test_fractional_params_reach_the_provider_as_json_numbers(engine: Engine, replicate: ReplicateFake) -> None:
    # Given a job whose params hold fractions (stored exact, as Decimals) beside a whole number and a nested one
    params = {"provider": "replicate", "modelId": "minimax/video-01", "prompt": "a cat", "apiKey": replicate.key,
              "guidance_scale": 7.5, "seed": 42, "motion": {"strength": 0.35}}  # fmt: skip
    engine.submit({"id": "a", "operation": "generate", "params": params})
    # When the worker submits the prediction, then the provider receives the numbers as the client sent them
    engine.run_until(lambda: bool(replicate.predictions))
    (prediction,) = replicate.predictions.values()
    sent = prediction["input"]
    assert (sent["guidance_scale"], sent["seed"], sent["motion"]) == (7.5, 42, {"strength": 0.35})
