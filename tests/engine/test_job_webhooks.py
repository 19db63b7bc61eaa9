"""Per-job webhooks (issue 23, item 4) through the whole engine: the template's stream filter, the enqueue and
sender functions, a receiver on 127.0.0.1, and the status route reporting each delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.engine.conftest import Engine
from tests.webhooks.receiver import Received, ScriptedAnswer, receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WEBHOOKS = {"ALLOW_INSECURE_WEBHOOKS": "true", "WEBHOOK_RETRY_SCHEDULE": "0,0,0"}


def submit(engine: Engine, url: str, *jobs: dict[str, Any]) -> str:
    body = {
        "executionPlan": {"jobs": [{"operation": "generateVideo", **job} for job in jobs]},
        "options": {"webhookUrl": url, "webhookSecret": SECRET},
    }
    answer = engine.api.submit(body)
    assert answer.status == 202, answer.body
    execution_id: str = answer.body["id"]
    return execution_id


def verified(request: Received) -> dict[str, Any]:
    """The payload, once both signatures check: Standard Webhooks' and the original backend's."""
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Webhook-Signature"] == expected
    payload: dict[str, Any] = Webhook(SECRET).verify(request.body, request.headers)
    return payload


@pytest.mark.engine_settings(**WEBHOOKS)
def test_a_job_that_asks_for_its_webhook_sends_one_when_it_ends(engine: Engine) -> None:
    with receiver(ScriptedAnswer(204)) as hook:
        # Given a plan whose first job asks for its own webhook, and whose second does not
        execution_id = submit(
            engine,
            hook.url,
            {"id": "clip", "params": {"prompt": "a cat", "sendJobWebhook": True}},
            {
                "id": "subs",
                "operation": "addSubtitles",
                "params": {"v": "_videoJobDependency:clip", "simulate": {"ms": 0}},  # the engine, not ffmpeg
                "dependsOn": ["clip"],
            },
        )
        # When the execution runs to its end
        status = engine.run(execution_id)
        engine.run_until(lambda: len(hook.received) >= 2)
        engine.sources.run_until(lambda: not engine.sources.busy(), 5)
    # Then the receiver got the job's delivery and the execution's, both signed
    by_id = {request.headers["webhook-id"]: request for request in hook.received}
    assert sorted(by_id) == [f"msg_{execution_id}", f"msg_{execution_id}_clip"]
    job_payload = verified(by_id[f"msg_{execution_id}_clip"])
    assert job_payload == {
        "executionId": execution_id,
        "jobId": "clip",
        "operation": "generateVideo",
        "status": "completed",
        "result": status["jobs"][0]["result"],
        "error": None,
        "completedAt": job_payload["completedAt"],
        "cancelled": False,
    }
    assert job_payload["completedAt"].endswith("Z")
    assert verified(by_id[f"msg_{execution_id}"])["status"] == "completed"
    # And the status reports the job's delivery as it reports the execution's; the other job has none
    jobs = {job["id"]: job for job in engine.status(execution_id)["jobs"]}
    assert jobs["clip"]["webhook"]["attempts"] == 1
    assert jobs["clip"]["webhook"]["lastStatus"] == 204
    assert jobs["clip"]["webhook"]["deliveredAt"] is not None
    assert jobs["clip"]["webhook"]["url"] == hook.url
    assert jobs["subs"]["webhook"] is None


@pytest.mark.engine_settings(**WEBHOOKS)
def test_a_failed_job_webhook_is_retried_and_carries_the_error(engine: Engine) -> None:
    with receiver(ScriptedAnswer(503), ScriptedAnswer(200)) as hook:
        # Given a job that fails and asks for its webhook, in an execution of one job
        execution_id = submit(
            engine,
            hook.url,
            {"id": "a", "params": {"sendJobWebhook": True, "simulate": {"failWith": "out of credits"}}},
        )
        engine.run(execution_id)
        # When the first delivery meets a 503
        engine.run_until(lambda: len(hook.received) >= 3)
        engine.sources.run_until(lambda: not engine.sources.busy(), 5)
    # Then the one that met it was tried again with the same webhook-id, and each was delivered once
    ids = [request.headers["webhook-id"] for request in hook.received]
    assert sorted(set(ids)) == [f"msg_{execution_id}", f"msg_{execution_id}_a"]
    assert ids.count(ids[0]) == 2
    job_payload = verified(next(r for r in hook.received if r.headers["webhook-id"].endswith("_a")))
    assert (job_payload["status"], job_payload["error"], job_payload["result"]) == ("failed", "out of credits", None)
    job = engine.status(execution_id)["jobs"][0]
    assert job["webhook"]["deliveredAt"] is not None
    assert job["webhook"]["attempts"] == (2 if ids[0].endswith("_a") else 1)


@pytest.mark.engine_settings(**WEBHOOKS)
def test_send_job_webhook_that_is_not_true_sends_nothing(engine: Engine) -> None:
    with receiver(ScriptedAnswer(200)) as hook:
        execution_id = submit(engine, hook.url, {"id": "a", "params": {"sendJobWebhook": "yes"}})
        engine.run(execution_id)
        engine.run_until(lambda: len(hook.received) >= 1)
        engine.sources.run_until(lambda: not engine.sources.busy(), 5)
    assert [r.headers["webhook-id"] for r in hook.received] == [f"msg_{execution_id}"]
    assert json.loads(hook.received[0].body)["executionId"] == execution_id
