"""The real state machine definition from template.yaml, executed by moto end to end: executions go
pending -> processing -> completed or failed, scheduled without waves."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from tests.engine.conftest import Engine

OUTPUTS = "https://outputs.execution-api.invalid"


def test_a_chain_runs_in_order_and_feeds_each_output_to_the_next(engine: Engine) -> None:
    # Given a chain of three jobs, each using the previous one's output (simulated: this tests the engine)
    execution_id = engine.submit(
        {"id": "a", "operation": "generateVideo"},
        {
            "id": "b",
            "operation": "addSubtitles",
            "params": {"video": "_videoJobDependency:a", "simulate": {}},
            "dependsOn": ["a"],
        },
        {
            "id": "c",
            "operation": "merge",
            "params": {"items": [{"url": "_videoJobDependency:b"}], "simulate": {}},
            "dependsOn": ["b"],
        },
    )
    assert engine.status(execution_id)["status"] == "pending"

    # When the engine runs it
    status = engine.run(execution_id)

    # Then every job completed, and the execution's result is the last leaf job's output
    assert status["status"] == "completed"
    assert [j["status"] for j in status["jobs"]] == ["completed"] * 3
    assert status["completedJobs"] == 3
    assert status["progress"] == 100
    assert status["currentJob"] is None
    assert status["result"] == {"url": f"{OUTPUTS}/{execution_id}/c.mp4", "status": "completed"}
    assert status["completedAt"] is not None
    assert status["error"] is None
    c = engine.jobs(execution_id)["c"]["result"]
    assert c["outputs"] == [{"type": "video", "url": f"{OUTPUTS}/{execution_id}/c.mp4", "mimeType": "video/mp4"}]


def test_updated_at_follows_every_job_change_without_rewriting_the_execution_item(engine: Engine) -> None:
    # Given a chain whose second job takes a moment
    execution_id = engine.submit({"id": "a"}, {"id": "b", "dependsOn": ["a"], "params": {"simulate": {"ms": 1000}}})
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(engine.stack.names["ExecutionsTable"])

    def items() -> dict[str, dict[str, Any]]:
        pk = f"TENANT#local#EXECUTION#{execution_id}"
        found = table.query(KeyConditionExpression=Key("pk").eq(pk), ConsistentRead=True)["Items"]
        return {item["sk"]: item for item in found}

    # When the first job has completed and the second runs
    engine.run_until(lambda: items()["JOB#b"]["status"] == "processing")
    stored, status = items(), engine.status(execution_id)

    # Then the answer's updatedAt is the newest change (the second job's start), which the engine wrote on
    # the job's item only: the execution item still holds the time its run started
    newest = max(item["updatedAt"] for item in stored.values())
    assert status["updatedAt"] == newest == stored["JOB#b"]["updatedAt"]
    assert stored["EXECUTION"]["updatedAt"] < stored["JOB#a"]["updatedAt"] <= newest
    assert [job["status"] for job in status["jobs"]] == ["completed", "processing"]

    # And once it has ended, the execution's own end is the newest change
    final = engine.run(execution_id)
    assert final["status"] == "completed"
    assert final["updatedAt"] == final["completedAt"] == items()["EXECUTION"]["updatedAt"]


def test_an_empty_plan_completes(engine: Engine) -> None:
    execution_id = engine.submit()
    status = engine.run(execution_id)
    assert status["status"] == "completed"
    assert status["progress"] == 100


def test_a_failure_fails_its_dependents_and_lets_independent_jobs_finish(engine: Engine) -> None:
    # Given a failing job with a chain behind it, and an independent job
    execution_id = engine.submit(
        {"id": "a", "params": {"simulate": {"failWith": "the provider refused the prompt"}}},
        {"id": "b", "dependsOn": ["a"]},
        {"id": "c", "dependsOn": ["b"]},
        {"id": "free"},
    )

    status = engine.run(execution_id)

    jobs = engine.jobs(execution_id)
    assert jobs["a"]["status"] == "failed"
    assert jobs["a"]["error"] == "the provider refused the prompt"
    assert jobs["b"]["status"] == "failed"
    assert jobs["b"]["error"] == "Dependency job failed: a"
    assert jobs["c"]["status"] == "failed"
    assert jobs["c"]["error"] == "Dependency job failed: b"
    assert jobs["free"]["status"] == "completed"
    assert status["status"] == "failed"
    assert status["failedJobs"] == 3
    assert status["completedJobs"] == 1
    assert "job a failed: the provider refused the prompt" in status["error"]
    assert status["result"] is None


def test_a_slow_branch_does_not_hold_back_the_fast_one(engine: Engine) -> None:
    # Given a diamond whose left branch is slow, and a job that needs only the fast branch
    execution_id = engine.submit(
        {"id": "root"},
        {"id": "slow", "dependsOn": ["root"], "params": {"simulate": {"ms": 1500}}},
        {"id": "fast", "dependsOn": ["root"]},
        {"id": "afterFast", "dependsOn": ["fast"]},
        {"id": "join", "dependsOn": ["slow", "afterFast"]},
    )

    engine.run(execution_id)

    # Then the job behind the fast branch finished while the slow one still ran (no waves)
    items = engine_items(engine, execution_id)
    assert items["afterFast"]["completedAt"] < items["slow"]["completedAt"]
    assert items["join"]["startedAt"] >= items["slow"]["completedAt"]
    assert engine.status(execution_id)["status"] == "completed"


def test_retryable_failures_are_retried_up_to_the_attempt_limit(engine: Engine) -> None:
    execution_id = engine.submit(
        {"id": "flaky", "params": {"simulate": {"failAttempts": 2}}},
        {"id": "broken", "params": {"simulate": {"failWith": "provider unavailable", "retryable": True}}},
    )

    # Two retries wait 1 s then 2 s (the fixture sets JobRetryIntervalSeconds 1); moto is slower on a loaded machine.
    status = engine.run(execution_id, timeout_s=180)

    items = engine_items(engine, execution_id)
    assert items["flaky"]["status"] == "completed"
    assert items["flaky"]["attempts"] == 3
    assert items["broken"]["status"] == "failed"
    assert items["broken"]["attempts"] == 3
    assert status["status"] == "failed"
    assert engine.jobs(execution_id)["broken"]["error"] == "provider unavailable"


def test_many_jobs_complete(engine: Engine) -> None:
    # Given 60 jobs: 20 roots, each with a dependent and a job joining a pair of those
    jobs = [{"id": f"r{i}"} for i in range(20)]
    jobs += [{"id": f"m{i}", "dependsOn": [f"r{i}"]} for i in range(20)]
    jobs += [{"id": f"j{i}", "dependsOn": [f"m{i}", f"m{(i + 1) % 20}"]} for i in range(20)]
    execution_id = engine.submit(*jobs)

    status = engine.run(execution_id, timeout_s=120)

    assert status["status"] == "completed"
    assert status["completedJobs"] == 60


def engine_items(engine: Engine, execution_id: str) -> dict[str, dict[str, object]]:
    """Job items as stored (timestamps and attempts are not in the status answer)."""
    import boto3
    from boto3.dynamodb.conditions import Key

    table = boto3.resource("dynamodb", region_name="us-east-1").Table(engine.stack.names["ExecutionsTable"])
    items = table.query(KeyConditionExpression=Key("pk").eq(f"TENANT#local#EXECUTION#{execution_id}"))["Items"]
    return {item["jobId"]: item for item in items if "jobId" in item}


@pytest.mark.skipif(not os.environ.get("ENGINE_LARGE"), reason="minutes on moto: ENGINE_LARGE=1 runs it")
@pytest.mark.engine_settings(MAX_PARALLEL_JOBS="40")
def test_500_jobs_complete(engine: Engine) -> None:
    # Given MAX_JOBS jobs: 100 chains of 5, each link also waiting for the previous chain's head
    jobs = []
    for chain in range(100):
        for link in range(5):
            depends = [f"c{chain}l{link - 1}"] if link else ([f"c{chain - 1}l0"] if chain else [])
            jobs.append({"id": f"c{chain}l{link}", "dependsOn": depends})
    execution_id = engine.submit(*jobs)

    status = engine.run(execution_id, timeout_s=1800)

    assert status["status"] == "completed"
    assert status["completedJobs"] == 500
