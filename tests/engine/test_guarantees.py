"""What an operator relies on: nothing runs twice, nothing stays processing, cancel stops work, and a
base execution's results feed the next one."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.lambda_events import sqs_record
from tests.engine.conftest import Engine
from tests.engine.test_runs import OUTPUTS, engine_items

WORKER = "WorkerFunction"
STARTER = "StarterFunction"


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """As Lambda delivers them (the workers parse the whole record, its attributes included)."""
    return {"Records": [sqs_record(message, queue_arn) for message in messages]}


def test_a_redelivered_work_message_runs_once_and_a_duplicate_report_is_refused(engine: Engine) -> None:
    # Given a job whose work message the worker has not picked up yet
    engine.sources.paused.add(WORKER)
    execution_id = engine.submit({"id": "a"}, {"id": "b", "dependsOn": ["a"]})
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = engine.stack.names["WorkQueue"]
    messages: list[dict[str, Any]] = []

    def received() -> bool:
        messages.extend(sqs.receive_message(QueueUrl=queue, AttributeNames=["All"]).get("Messages", []))
        return bool(messages)

    engine.run_until(received)
    event = sqs_event(messages[:1], engine.stack.attributes[("WorkQueue", "Arn")])

    # When SQS delivers it twice
    assert engine.call(WORKER, event) == {"batchItemFailures": []}
    assert engine.call(WORKER, event) == {"batchItemFailures": []}

    # Then the job ran once (one claimed attempt)
    assert engine_items(engine, execution_id)["a"]["attempts"] == 1
    # And a second report with the same token changes nothing (AWS refuses it; moto ignores it)
    token = json.loads(messages[0]["Body"])["taskToken"]
    with contextlib.suppress(ClientError):
        engine.sfn.send_task_success(taskToken=token, output=json.dumps({"outputs": [{"url": "https://x.invalid/"}]}))
    engine.sources.paused.clear()
    status = engine.run(execution_id)
    assert status["status"] == "completed"
    assert engine.jobs(execution_id)["a"]["result"]["outputs"][0]["url"] == f"{OUTPUTS}/{execution_id}/a.mp4"
    assert engine_items(engine, execution_id)["a"]["attempts"] == 1


def test_an_outcome_recorded_twice_applies_once(engine: Engine) -> None:
    # Given a completed execution
    execution_id = engine.submit({"id": "a"}, {"id": "b", "dependsOn": ["a"]})
    engine.run(execution_id)
    before = engine_items(engine, execution_id)

    # When the engine gets a's outcome again, as a success and as a failure (redelivered, or late)
    from execution_api.engine.scheduler import engine as engine_service

    stale = "a-token-step-functions-no-longer-waits-for"
    engine_service().completed("local", execution_id, "a", {"outputs": [{"url": "https://other.invalid/"}]}, stale)
    engine_service().failed("local", execution_id, "a", {"Error": "Job.Failed", "Cause": "late"}, stale)

    # Then nothing changed
    after = engine_items(engine, execution_id)
    assert after["a"]["result"] == before["a"]["result"]
    assert after["a"]["status"] == "completed"
    assert after["b"]["doneDependencies"] == {"a"}
    assert engine.status(execution_id)["status"] == "completed"


def test_a_redelivered_stream_record_starts_one_run(engine: Engine) -> None:
    # Given the stream record of a new execution, held back from the starter
    engine.sources.paused.add(STARTER)
    execution_id = engine.submit({"id": "a"})
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "https://streams.dynamodb.us-east-1.amazonaws.com"
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=endpoint)
    arn = engine.stack.attributes[("ExecutionsTable", "StreamArn")]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    inserted = [r for r in records if r["dynamodb"]["NewImage"]["sk"]["S"] == "EXECUTION"]
    event = {"Records": [json.loads(json.dumps(r, default=str)) for r in inserted]}

    # When the starter gets it three times
    for _ in range(3):
        assert engine.call(STARTER, event) == {"batchItemFailures": []}

    # Then there is one state machine run, and the execution completes
    assert [run["name"].startswith(execution_id) for run in engine.runs()] == [True]
    engine.sources.paused.clear()
    engine.sources.mappings = [m for m in engine.sources.mappings if m.function.logical_id != STARTER]
    assert engine.run(execution_id)["status"] == "completed"


def test_cancel_while_running(engine: Engine) -> None:
    # Given an execution whose first job is running and whose second waits for it
    execution_id = engine.submit(
        {"id": "slow", "params": {"simulate": {"ms": 3000}}}, {"id": "next", "dependsOn": ["slow"]}
    )
    engine.run_until(lambda: engine.jobs(execution_id)["slow"]["status"] == "processing")
    assert engine.status(execution_id)["status"] == "processing"
    assert engine.status(execution_id)["currentJob"] == "slow"

    # When the client cancels it
    answer = engine.cancel(execution_id)

    # Then it and its unfinished jobs are cancelled, the run is stopped, and the late report changes nothing
    assert answer.status == 202
    assert answer.body == {
        "id": execution_id,
        "executionId": execution_id,
        "status": "failed",
        "cancelled": True,
        "error": "Execution cancelled",
        "statusUrl": f"/api/execute/{execution_id}/status",
    }
    status = engine.run(execution_id)
    assert (status["status"], status["cancelled"], status["error"]) == ("failed", True, "Execution cancelled")
    assert {(j["status"], j["cancelled"], j["error"]) for j in status["jobs"]} == {
        ("failed", True, "Execution cancelled")
    }
    # The run ended (AWS reports ABORTED; moto lets the waits it stopped fail instead)
    assert [run["status"] for run in engine.runs()] in (["ABORTED"], ["FAILED"])
    engine.sources.run_until(lambda: not engine.sources.busy(), 10)
    assert engine.status(execution_id)["cancelled"] is True
    assert {j["cancelled"] for j in engine.status(execution_id)["jobs"]} == {True}


def test_cancel_answers_409_when_finished_and_404_when_unknown_or_another_tenants(engine: Engine) -> None:
    execution_id = engine.submit({"id": "a"})
    engine.run(execution_id)

    finished = engine.cancel(execution_id)
    assert finished.status == 409
    assert finished.body["code"] == "execution_finished"
    assert finished.headers["Content-Type"] == "application/problem+json"
    assert engine.cancel("V1StGXR8_Z5jdHi6B-myT").status == 404
    assert engine.cancel(execution_id, tenant="another").status == 404


def test_a_base_executions_results_feed_the_new_execution(engine: Engine) -> None:
    # Given a completed base execution
    base_id = engine.submit({"id": "clip", "operation": "generateVideo"})
    engine.run(base_id)
    # And a new execution whose job depends on the base's job (written as intake stores such a plan)
    engine.sources.paused.add(STARTER)
    execution_id = engine.submit({"id": "subtitled", "operation": "addSubtitles", "params": {"video": "x"}})
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(engine.stack.names["ExecutionsTable"])
    pk = f"TENANT#local#EXECUTION#{execution_id}"
    table.update_item(
        Key={"pk": pk, "sk": "EXECUTION"},
        UpdateExpression="SET baseExecutionId = :b",
        ExpressionAttributeValues={":b": base_id},
    )
    table.update_item(
        Key={"pk": pk, "sk": "JOB#subtitled"},
        UpdateExpression="SET dependsOn = :d, baseDependsOn = :d, params = :p",
        ExpressionAttributeValues={":d": ["clip"], ":p": json.dumps({"video": "_videoJobDependency:clip"})},
    )
    seen: list[Any] = []
    from execution_api.engine import executors, worker

    def recording(operation: str, settings: Any) -> Any:
        inner = executors.SimulatedExecutor(default_ms=0)

        class Recording:
            def run(self, job: Any, heartbeat: Any) -> Any:
                seen.append(job.params)
                return inner.run(job, heartbeat)

        return Recording()

    original = worker.executor_for
    worker.executor_for = recording
    try:
        engine.sources.paused.clear()
        status = engine.run(execution_id)
    finally:
        worker.executor_for = original

    # Then the job got the base job's output url, and completed
    assert seen == [{"video": f"{OUTPUTS}/{base_id}/clip.mp4"}]
    assert status["status"] == "completed"
