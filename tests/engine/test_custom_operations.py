"""Custom operations (AllowedOperations): their jobs go to a queue of their own, CustomQueue, which a worker
of the operator's own consumes with the worker protocol (docs/engine.md); built-in jobs of the same plan
never go there, and nothing of this stack takes them from it."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.engine.conftest import Engine

pytestmark = [
    pytest.mark.engine_parameters(AllowedOperations="upscale,denoise", SimulatedExecutor="false"),
    pytest.mark.engine_settings(SIMULATED_JOB_MS="0", MEDIA_X264_PRESET="ultrafast"),
]


def messages(engine: Engine, queue: str) -> list[dict[str, Any]]:
    """What waits on the queue, received with a long poll: the state machine's task sends its message in a
    thread of its own, after the gate has marked the job processing, so it may not be there yet."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = engine.stack.names[queue]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=10).get(
        "Messages", []
    )
    for message in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in received]


def test_a_custom_operation_reaches_its_own_queue_and_the_custom_workers_report_completes_it(engine: Engine) -> None:
    # Given a plan: a built-in local job... and a custom one depending on nothing, and a custom one after it
    execution_id = engine.submit(
        {"id": "big", "operation": "upscale", "params": {"factor": 2}},
        {"id": "clean", "operation": "denoise", "params": {"strength": 0.5}, "dependsOn": ["big"]},
    )
    # When the engine runs it, the custom job waits on CustomQueue (not on the work queue, whose worker
    # would fail it with "no worker of this deployment runs operation")
    engine.run_until(lambda: engine.jobs(execution_id)["big"]["status"] == "processing")
    engine.run_until(lambda: not engine.sources.busy(), 10)
    [message] = messages(engine, "CustomQueue")
    assert message["job"]["operation"] == "upscale"
    assert message["job"]["queueUrl"] == engine.stack.names["CustomQueue"]
    assert json.loads(message["job"]["paramsJson"]) == {"factor": 2}
    # And the custom worker reports as the protocol says: its result is the job's
    output = {"type": "video", "url": "https://cdn.example.com/big.mp4", "mimeType": "video/mp4", "bytes": 10}
    engine.sfn.send_task_success(
        taskToken=message["taskToken"], output=json.dumps({"status": "completed", "outputs": [output]})
    )
    engine.run_until(lambda: engine.jobs(execution_id)["clean"]["status"] == "processing")
    engine.run_until(lambda: not engine.sources.busy(), 10)
    [second] = messages(engine, "CustomQueue")
    assert second["job"]["dependencies"] == {"big": "https://cdn.example.com/big.mp4"}
    engine.sfn.send_task_failure(taskToken=second["taskToken"], error="Job.Failed", cause="the clip is too noisy")
    status = engine.run(execution_id)
    # Then the first completed with the custom worker's output, the second failed with its words
    jobs = engine.jobs(execution_id)
    assert jobs["big"]["status"] == "completed"
    assert jobs["big"]["result"]["outputs"][0]["url"] == "https://cdn.example.com/big.mp4"
    assert (jobs["clean"]["status"], jobs["clean"]["error"]) == ("failed", "the clip is too noisy")
    assert status["status"] == "failed"
