"""Cancelling an execution cancels its running predictions at once (issue 22 point 2), through the cancel
route's handler: each cancelled job whose prediction is noted on it gets one check on the work queue, which the
worker's checker turns into a cancel at the provider; the poller is no longer what stops the spending. A queue
that refuses the checks does not fail the cancel (the poller remains the safety net)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from execution_api.engine.executors import JobDeferred, JobRequest
from execution_api.providers.checks import enqueue_checks
from execution_api.storage.keys import execution_pk
from tests.integration.test_route_ids_and_cancel_answer import cancel
from tests.providers.conftest import TOKEN, Harness
from tests.providers.test_predictions import KEY, SEEDANCE
from tests.support import LOCAL_TENANT, Api, plan


@pytest.fixture
def api(providers: Harness) -> Api:
    return Api(providers.stack)


def queued() -> list[dict[str, Any]]:
    """Every message on the work queue (taken off it)."""
    sqs, messages = boto3.client("sqs", region_name="us-east-1"), []
    while answer := sqs.receive_message(QueueUrl=os.environ["WORK_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages"):
        messages += [json.loads(m["Body"]) for m in answer]
        sqs.delete_message_batch(
            QueueUrl=os.environ["WORK_QUEUE_URL"],
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(answer)],
        )
    return messages


def submit_prediction(providers: Harness, execution_id: str, job_id: str) -> str:
    """The worker's part: the job's prediction submitted to the Replicate fake and noted on the job item."""
    job = JobRequest(execution_id, job_id, "generate", SEEDANCE, 1, KEY, LOCAL_TENANT, (), TOKEN)
    with pytest.raises(JobDeferred):
        providers.executor.run(job, lambda: None)
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=providers.table,
        Key={"pk": {"S": execution_pk(LOCAL_TENANT, execution_id)}, "sk": {"S": f"JOB#{job_id}"}},
    )["Item"]
    ref: str = item["prediction"]["M"]["ref"]["S"]
    return ref


def test_a_cancel_queues_one_check_per_running_prediction_and_the_checker_cancels_it(
    api: Api, providers: Harness
) -> None:
    # Given an execution whose job "a" runs a Replicate prediction and whose job "b" runs none
    execution_id = api.submit(plan({"id": "a"}, {"id": "b"})).body["id"]
    ref = submit_prediction(providers, execution_id, "a")
    assert queued() == []
    # When the execution is cancelled
    assert cancel(api, execution_id).status == 202
    # Then exactly one check is on the work queue, for "a"'s prediction, and none for "b"
    assert queued() == [{"prediction": ref}]
    # And the worker taking it reads the job's status the cancel stored, and cancels the prediction at the
    # provider, not at the poller's next look
    assert providers.checker.check(ref) == "cancelled"
    (prediction,) = providers.replicate.predictions.values()
    assert prediction["status"] == "canceled"
    assert providers.predictions.due() == []  # settled: the poller has nothing left to send
    # And a cancel of the cancelled execution (409) queues nothing more
    assert cancel(api, execution_id).status == 409
    assert queued() == []


def test_a_cancel_of_jobs_without_predictions_queues_nothing(api: Api, providers: Harness) -> None:
    execution_id = api.submit(plan({"id": "a"}, {"id": "b"})).body["id"]
    assert cancel(api, execution_id).status == 202
    assert queued() == []


def test_a_finished_jobs_prediction_is_not_checked_again(api: Api, providers: Harness) -> None:
    # Given job "a" whose prediction ran and which completed, and job "b" whose prediction still runs
    execution_id = api.submit(plan({"id": "a"}, {"id": "b"})).body["id"]
    submit_prediction(providers, execution_id, "a")
    running = submit_prediction(providers, execution_id, "b")
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=providers.table,
        Key={"pk": {"S": execution_pk(LOCAL_TENANT, execution_id)}, "sk": {"S": "JOB#a"}},
        UpdateExpression="SET #status = :completed",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":completed": {"S": "completed"}},
    )
    # When the execution is cancelled, then only the unfinished job's prediction is checked
    assert cancel(api, execution_id).status == 202
    assert queued() == [{"prediction": running}]


def test_a_queue_that_refuses_the_checks_does_not_fail_the_cancel(
    api: Api, providers: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execution_api.core.aws_clients import sqs_client
    from execution_api.core.observability import logger

    execution_id = api.submit(plan({"id": "a"})).body["id"]
    ref = submit_prediction(providers, execution_id, "a")
    refusal = ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized arn:aws:sqs:secret"}}, "Send")

    def refuse(**_: Any) -> Any:
        raise refusal

    logged: list[str] = []
    monkeypatch.setattr(sqs_client(), "send_message_batch", refuse)
    monkeypatch.setattr(logger, "exception", lambda message, *_, **__: logged.append(message))
    # When the cancel cannot queue the check
    answer = cancel(api, execution_id)
    # Then the cancel is done all the same, the client hears nothing of the queue, and the log says who takes over
    assert answer.status == 202
    assert "arn:aws" not in answer.raw.decode()
    assert api.status(execution_id).body["cancelled"] is True
    assert logged == ["the cancelled jobs' predictions were not sent to a worker; the poller cancels them"]
    # And the prediction stays pending, so the poller's next look sends it to the checker, which cancels it
    assert queued() == []
    providers.clock.advance(61)
    assert providers.predictions.due() == [ref]


class PartlyRefusing:
    """SendMessageBatch that takes every entry but the ones named, as SQS reports a partial failure."""

    def __init__(self, refused: set[str]) -> None:
        self.refused, self.requests = refused, []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.requests.append(Entries)
        failed = [e for e in Entries if json.loads(e["MessageBody"])["prediction"] in self.refused]
        return {"Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in failed]}


def test_checks_go_ten_to_a_request_and_the_refused_ones_are_returned() -> None:
    refs = [f"ref-{n:02d}" for n in range(23)]
    sqs = PartlyRefusing({"ref-04", "ref-17"})
    assert enqueue_checks(sqs, "https://queue", refs) == ["ref-04", "ref-17"]
    assert [len(entries) for entries in sqs.requests] == [10, 10, 3]
    sent = [json.loads(e["MessageBody"]) for entries in sqs.requests for e in entries]
    assert sent == [{"prediction": ref} for ref in refs]
