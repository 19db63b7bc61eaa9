"""Webhook delivery end to end against moto: the stream record of an ended execution, the enqueue function,
the queue, the sender, a real receiver on 127.0.0.1 (ALLOW_INSECURE_WEBHOOKS=true) and the status route."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from standardwebhooks import Webhook

from execution_api.webhooks.delivery import DeliveryQueue, webhook_deliveries
from tests.support import plan
from tests.webhooks.conftest import Delivery
from tests.webhooks.receiver import ScriptedAnswer, receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RESULT = {"url": "https://media.invalid/job1.mp4", "status": "completed"}


def test_a_completed_execution_is_delivered_signed(delivery: Delivery) -> None:
    with receiver(ScriptedAnswer(200)) as hook:
        # Given an execution with a webhook that completes
        execution_id = delivery.submit(hook.url, SECRET)
        delivery.end(execution_id, "completed", result=RESULT)
        # When its stream record reaches the enqueue function and the message reaches the sender
        assert delivery.run_enqueue(delivery.stream_records()) == {"batchItemFailures": []}
        assert delivery.deliver_until_idle() == 1
    # Then the receiver got the original backend's payload, signed per Standard Webhooks and with its own header
    [request] = hook.received
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload == {
        "executionId": execution_id,
        "status": "completed",
        "result": RESULT,
        "error": None,
        "completedAt": "2026-11-26T07:00:00.000Z",
        "cancelled": False,
    }
    assert request.headers["webhook-id"] == f"msg_{execution_id}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("ExecutionAPI-Webhooks/")
    assert request.headers["X-Webhook-Signature"].startswith("sha256=")
    # And the status route shows the delivery, never the secret
    status = delivery.api.status(execution_id).body
    assert status["webhook"]["url"] == hook.url
    assert status["webhook"]["attempts"] == 1
    assert status["webhook"]["lastStatus"] == 200
    assert status["webhook"]["deliveredAt"] is not None
    assert set(status["webhook"]) == {"url", "deliveredAt", "attempts", "lastStatus"}
    assert SECRET not in json.dumps(status)


def test_a_redelivered_terminal_record_queues_one_message_id(delivery: Delivery) -> None:
    execution_id = delivery.submit("http://127.0.0.1:9/hook")
    delivery.end(execution_id, "completed", result=RESULT)
    ended = delivery.item(execution_id)
    records = delivery.stream_records()
    # When Lambda hands the same record over twice (a retried batch)
    delivery.run_enqueue(records)
    delivery.run_enqueue(records)
    # And the claim's own update of the item comes through the stream too
    delivery.record_change(ended, delivery.item(execution_id))
    delivery.run_enqueue(delivery.stream_records())
    # Then one message is on the queue, with the message id derived from the execution
    messages = delivery.queued()
    assert [json.loads(m["body"])["messageId"] for m in messages] == [f"msg_{execution_id}"]
    assert delivery.item(execution_id)["webhook"]["M"]["messageId"] == {"S": f"msg_{execution_id}"}


def test_a_crash_between_claim_and_send_is_repaired_by_the_retried_record(
    delivery: Delivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution_id = delivery.submit("http://127.0.0.1:9/hook")
    delivery.end(execution_id, "failed", error="job1: boom")
    records = delivery.stream_records()
    real_send = DeliveryQueue.send
    calls = []

    def flaky_send(self: DeliveryQueue, task: Any, delay_seconds: int) -> None:
        calls.append(task)
        if len(calls) == 1:
            raise RuntimeError("the process died here")
        real_send(self, task, delay_seconds)

    monkeypatch.setattr(DeliveryQueue, "send", flaky_send)
    # When the first try claims the delivery but fails to queue it
    first = delivery.run_enqueue(records)
    assert first["batchItemFailures"] == [{"itemIdentifier": records[-1]["dynamodb"]["SequenceNumber"]}]
    # Then the retried record queues it, with the same message id
    assert delivery.run_enqueue(records) == {"batchItemFailures": []}
    assert [json.loads(m["body"])["messageId"] for m in delivery.queued()] == [f"msg_{execution_id}"]


@pytest.mark.parametrize(
    ("status", "fields", "expected"),
    [
        ("failed", {"error": "Job job1 failed: out of credits"}, {"error": "Job job1 failed: out of credits"}),
        ("cancelled", {}, {"error": "Execution cancelled", "cancelled": True}),
    ],
)
def test_a_failure_and_a_cancel_payload(
    delivery: Delivery, status: str, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    with receiver(ScriptedAnswer(204)) as hook:
        execution_id = delivery.submit(hook.url, "a plain secret")
        delivery.end(execution_id, status, **fields)
        delivery.run_enqueue(delivery.stream_records())
        delivery.deliver_until_idle()
    [request] = hook.received
    payload = Webhook(b"a plain secret").verify(request.body, request.headers)
    # The original backend's keys for every end, a cancel read as a failure that says so (docs/api.md)
    assert payload == {
        "executionId": execution_id,
        "status": "failed",
        "result": None,
        "cancelled": False,
        **expected,
        "completedAt": "2026-11-26T07:00:00.000Z",
        "failedAt": "2026-11-26T07:00:00.000Z",
    }


def test_without_a_secret_there_are_no_signature_headers(delivery: Delivery) -> None:
    with receiver(ScriptedAnswer(200)) as hook:
        execution_id = delivery.submit(hook.url)
        delivery.end(execution_id, "completed", result=RESULT)
        delivery.run_enqueue(delivery.stream_records())
        delivery.deliver_until_idle()
    [request] = hook.received
    assert "webhook-signature" not in {name.lower() for name in request.headers}
    assert "x-webhook-signature" not in {name.lower() for name in request.headers}
    assert request.headers["webhook-id"] == f"msg_{execution_id}"


def test_a_503_is_retried_with_the_same_webhook_id(delivery: Delivery) -> None:
    with receiver(ScriptedAnswer(503), ScriptedAnswer(200)) as hook:
        execution_id = delivery.submit(hook.url, SECRET)
        delivery.end(execution_id, "completed", result=RESULT)
        delivery.run_enqueue(delivery.stream_records())
        assert delivery.deliver_until_idle() == 2
    first, second = hook.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"msg_{execution_id}"
    assert first.body == second.body
    Webhook(SECRET).verify(second.body, second.headers)
    webhook = delivery.api.status(execution_id).body["webhook"]
    assert (webhook["attempts"], webhook["lastStatus"]) == (2, 200)


def test_410_gone_stops_at_once(delivery: Delivery, capsys: pytest.CaptureFixture[str]) -> None:
    with receiver(ScriptedAnswer(410)) as hook:
        execution_id = delivery.submit(hook.url)
        delivery.end(execution_id, "completed", result=RESULT)
        delivery.run_enqueue(delivery.stream_records())
        assert delivery.deliver_until_idle() == 1
    assert len(hook.received) == 1
    state = delivery.item(execution_id)["webhook"]["M"]
    assert state["lastStatus"] == {"N": "410"}
    assert "givenUpAt" in state
    assert "WebhookDeliveryGivenUp" in capsys.readouterr().out  # the alarm's metric


def test_every_retry_failing_gives_up_and_keeps_the_record(
    delivery: Delivery, capsys: pytest.CaptureFixture[str]
) -> None:
    with receiver(ScriptedAnswer(500)) as hook:
        execution_id = delivery.submit(hook.url)
        delivery.end(execution_id, "completed", result=RESULT)
        delivery.run_enqueue(delivery.stream_records())
        assert delivery.deliver_until_idle() == 4  # the first attempt and the schedule's three retries
    assert len(hook.received) == 4
    state = delivery.item(execution_id)["webhook"]["M"]
    assert state["attempts"] == {"N": "4"}
    assert state["lastStatus"] == {"N": "500"}
    assert "givenUpAt" in state
    assert "deliveredAt" not in state
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    given_up = [m for m in metrics if "WebhookDeliveryGivenUp" in m]
    assert given_up
    assert given_up[0]["service"] == "execution-api"


def test_a_duplicate_message_after_delivery_sends_nothing(delivery: Delivery) -> None:
    with receiver(ScriptedAnswer(200)) as hook:
        execution_id = delivery.submit(hook.url)
        delivery.end(execution_id, "completed", result=RESULT)
        delivery.run_enqueue(delivery.stream_records())
        [record] = delivery.queued()
        delivery.run_sender([record])
        delivery.run_sender([record])  # SQS delivers a message at least once
    assert len(hook.received) == 1


def test_a_private_address_is_refused_at_send_time_and_retried_as_a_failure(
    delivery: Delivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a URL that passed intake (a name) but that, at send time, resolves to a private address
    execution_id = delivery.submit("https://hooks.example.com/in")
    delivery.end(execution_id, "completed", result=RESULT)
    delivery.run_enqueue(delivery.stream_records())
    monkeypatch.setattr(webhook_deliveries()._transport._egress, "_resolve", lambda host, port: ["10.1.2.3"])
    delivery.deliver_until_idle()
    state = delivery.item(execution_id)["webhook"]["M"]
    assert state["lastStatus"] == {"NULL": True}
    assert state["lastError"]["S"].startswith("refused: hooks.example.com resolves to 10.1.2.3")
    assert "givenUpAt" in state


def test_records_that_are_not_an_execution_ending_queue_nothing(delivery: Delivery) -> None:
    with_hook = delivery.submit("http://127.0.0.1:9/hook")
    without = delivery.api.submit(plan({"id": "job1"})).body["id"]
    delivery.record_change(None, delivery.item(without))
    delivery.change(with_hook, "processing")  # a status change that is not an end
    delivery.end(without, "completed", result=RESULT)  # an end without a webhook URL
    records = delivery.stream_records()  # both inserts, both changes
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT", "MODIFY", "MODIFY"]
    assert delivery.run_enqueue(records) == {"batchItemFailures": []}
    assert delivery.queued() == []
    assert "webhook" not in delivery.item(with_hook)


def test_the_first_retry_waits_in_the_queue_a_few_seconds(delivery: Delivery, configure: Any) -> None:
    # Given the real first wait of the schedule (about 5 s) and a receiver that answers 503, then 200
    configure("WEBHOOK_RETRY_SCHEDULE", "5")
    with receiver(ScriptedAnswer(503), ScriptedAnswer(200)) as hook:
        execution_id = delivery.submit(hook.url)
        delivery.end(execution_id, "completed", result=RESULT)
        delivery.run_enqueue(delivery.stream_records())
        assert delivery.deliver_until_idle() == 1
        # Then the retry is not visible at once: it waits in SQS (DelaySeconds), not in a Lambda
        assert delivery.queued() == []
        retried = []
        deadline = time.monotonic() + 30
        while not retried and time.monotonic() < deadline:
            time.sleep(0.5)
            retried = delivery.queued()
        assert delivery.run_sender(retried) == {"batchItemFailures": []}
    assert len(hook.received) == 2
    webhook = delivery.api.status(execution_id).body["webhook"]
    assert (webhook["attempts"], webhook["lastStatus"]) == (2, 200)


def test_a_malformed_message_fails_alone_for_sqs_to_retry_and_dead_letter(delivery: Delivery) -> None:
    with receiver(ScriptedAnswer(200)) as hook:
        execution_id = delivery.submit(hook.url)
        delivery.end(execution_id, "completed", result=RESULT)
        delivery.run_enqueue(delivery.stream_records())
        [good] = delivery.queued()
        task = json.loads(good["body"])
        bodies = ["not json", json.dumps([task]), json.dumps({**task, "attempt": "first"})]
        bodies.append(json.dumps({k: v for k, v in task.items() if k != "messageId"}))
        bad = [{**good, "messageId": f"broken-{i}", "body": body} for i, body in enumerate(bodies)]
        answer = delivery.run_sender([*bad, good])
        assert answer == {"batchItemFailures": [{"itemIdentifier": f"broken-{i}"} for i in range(len(bodies))]}
    assert len(hook.received) == 1


def test_a_secret_sealed_for_another_execution_does_not_open(delivery: Delivery) -> None:
    with receiver(ScriptedAnswer(200)) as hook:
        # Given an execution whose stored ciphertext was copied from another execution
        donor = delivery.submit(hook.url, SECRET)
        execution_id = delivery.submit(hook.url, "another secret")
        delivery.dynamodb.update_item(
            TableName=delivery.table,
            Key=delivery.key(execution_id),
            UpdateExpression="SET webhookSecretCiphertext = :c",
            ExpressionAttributeValues={":c": delivery.item(donor)["webhookSecretCiphertext"]},
        )
        delivery.end(execution_id, "completed", result=RESULT)
        delivery.run_enqueue(delivery.stream_records())
        # When the sender tries to open it
        [message] = delivery.queued()
        # Then KMS refuses (the encryption context names the other execution) and the invocation fails
        # (Powertools fails a batch whose every record failed), so SQS retries the message and finally
        # moves it to the dead-letter queue
        with pytest.raises(BatchProcessingError, match="InvalidCiphertextException"):
            delivery.run_sender([message])
    # And nothing was sent
    assert hook.received == []


def test_a_result_in_the_outputs_bucket_is_delivered_as_a_presigned_get(delivery: Delivery) -> None:
    from urllib.parse import parse_qs, urlsplit

    from execution_api.storage.outputs import output_key, reference

    with receiver(ScriptedAnswer(200)) as hook:
        # Given an execution whose result is an output in the bucket (stored as a reference)
        execution_id = delivery.submit(hook.url, SECRET)
        bucket = delivery.stack.names["OutputsBucket"]
        stored = reference(bucket, output_key("local", execution_id, "job1", "mp4"))
        delivery.end(execution_id, "completed", result={"url": stored, "status": "completed"})
        # When it is delivered
        delivery.run_enqueue(delivery.stream_records())
        assert delivery.deliver_until_idle() == 1
    # Then the receiver gets a presigned GET of that object, never the internal reference
    [request] = hook.received
    url = Webhook(SECRET).verify(request.body, request.headers)["result"]["url"]
    parts = urlsplit(url)
    assert parts.path.endswith(stored.split("/", 3)[3])
    assert "X-Amz-Signature" in parse_qs(parts.query)
    assert "s3://" not in request.body.decode()
