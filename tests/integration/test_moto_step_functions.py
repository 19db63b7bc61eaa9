"""The local interpreter hears a task token answered before it starts listening, and a retried task does
not read its previous attempt's answer (local/moto_step_functions.py).

On AWS a worker cannot answer a `.waitForTaskToken` task before Step Functions waits for the answer. In
moto it can: the message is sent first, the heartbeat's endpoint created after, and an answer in between
was lost for the heartbeat (a 0 ms job then waited 300 s and ran again: a CI failure of
test_retryable_failures_are_retried_up_to_the_attempt_limit). Here the fastest possible worker answers
inside the SendMessage call itself."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackOutcomeSuccess

from local.moto_step_functions import patch_step_functions
from local.template import REGION

HEARTBEAT_SECONDS = 2


def test_an_endpoint_created_after_the_answer_starts_out_notified() -> None:
    patch_step_functions()
    endpoint = CallbackEndpoint(callback_id="token")
    endpoint.notify(CallbackOutcomeSuccess(callback_id="token", output="{}"))

    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=HEARTBEAT_SECONDS)

    assert heartbeat.clear_and_wait() is True  # heard, not a heartbeat timeout


def test_patching_twice_wraps_once() -> None:
    patch_step_functions()
    first = CallbackEndpoint.setup_heartbeat_endpoint
    patch_step_functions()
    assert CallbackEndpoint.setup_heartbeat_endpoint.__wrapped__ is first.__wrapped__  # type: ignore[attr-defined]


def machine(sfn: Any, queue_url: str, **task: Any) -> str:
    """A state machine whose one task sends a token to the queue and waits for it, with a heartbeat."""
    definition = {
        "StartAt": "RunJob",
        "States": {
            "RunJob": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "HeartbeatSeconds": HEARTBEAT_SECONDS,
                "TimeoutSeconds": 60,
                "Parameters": {"QueueUrl": queue_url, "MessageBody": {"taskToken.$": "$$.Task.Token"}},
                "End": True,
                **task,
            }
        },
    }
    role = "arn:aws:iam::123456789012:role/sfn"
    return str(sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=role)["stateMachineArn"])


def finished(sfn: Any, run: str) -> dict[str, Any]:
    described = sfn.describe_execution(executionArn=run)
    deadline = time.monotonic() + 60  # a bound on the wait, not an assertion about time
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
        described = sfn.describe_execution(executionArn=run)
    return dict(described)


@pytest.fixture
def interpreter() -> Iterator[tuple[Any, str]]:
    """moto executing state machines, patched as make run patches it; a Step Functions client and a queue."""
    patch_step_functions()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs = boto3.client("sqs", region_name=REGION)
        yield boto3.client("stepfunctions", region_name=REGION), sqs.create_queue(QueueName="work")["QueueUrl"]


def test_an_answer_sent_before_the_interpreter_listens_completes_the_task(
    interpreter: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn, queue_url = interpreter
    send_message = SQSBackend.send_message

    def send_and_answer(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        message = send_message(self, *args, **kwargs)
        token = json.loads(message.body)["taskToken"]
        sfn.send_task_success(taskToken=token, output=json.dumps({"answered": True}))
        return message

    monkeypatch.setattr(SQSBackend, "send_message", send_and_answer)
    run = sfn.start_execution(stateMachineArn=machine(sfn, queue_url))["executionArn"]

    described = finished(sfn, run)

    assert described["status"] == "SUCCEEDED", described.get("error")
    assert json.loads(described["output"]) == {"answered": True}


def test_a_retried_task_does_not_read_its_previous_attempts_answer(
    interpreter: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt fails (retryable); the second sends a heartbeat before its answer. moto kept the
    first answer on the shared token, and the heartbeat made the second attempt read it and fail."""
    sfn, queue_url = interpreter
    send_message = SQSBackend.send_message
    attempts: list[str] = []

    def second_attempt(token: str, run: str) -> None:
        while sum(e["type"] == "TaskSubmitted" for e in sfn.get_execution_history(executionArn=run)["events"]) < 2:
            time.sleep(0.05)
        time.sleep(0.2)  # the interpreter is listening
        sfn.send_task_heartbeat(taskToken=token)
        time.sleep(0.2)
        sfn.send_task_success(taskToken=token, output=json.dumps({"attempt": 2}))

    def send_and_answer(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        message = send_message(self, *args, **kwargs)
        token = json.loads(message.body)["taskToken"]
        attempts.append(token)
        if len(attempts) == 1:
            sfn.send_task_failure(taskToken=token, error="Job.Retryable", cause="first attempt")
        else:
            run = sfn.list_executions(stateMachineArn=arn)["executions"][0]["executionArn"]
            threading.Thread(target=second_attempt, args=(token, run), daemon=True).start()
        return message

    monkeypatch.setattr(SQSBackend, "send_message", send_and_answer)
    retry = [{"ErrorEquals": ["Job.Retryable"], "IntervalSeconds": 1, "MaxAttempts": 1}]
    arn = machine(sfn, queue_url, Retry=retry)
    run = sfn.start_execution(stateMachineArn=arn)["executionArn"]

    described = finished(sfn, run)

    assert len(attempts) == 2
    assert described["status"] == "SUCCEEDED", described.get("error")
    assert json.loads(described["output"]) == {"attempt": 2}
