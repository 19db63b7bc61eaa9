"""How the engine ends an execution (docs/engine.md, "Timeouts, retries, duplicates"): by its Finish state, or
because Step Functions ended the run without it (timed out, aborted, failed). Each way writes the execution and
its unfinished jobs once, on the table the intake wrote; one already ended is left as it is."""

from __future__ import annotations

import json
from typing import Any

import pytest

from execution_api.core.aws_clients import dynamodb_client
from execution_api.engine.scheduler import Engine
from execution_api.engine.settings import EngineSettings
from execution_api.storage.jobs import JobStore
from execution_api.storage.keys import execution_pk
from local.stack import LocalDeployment
from tests.support import LOCAL_TENANT, Api, chain

NOW = "2026-11-26T07:48:56.889Z"
RESULT = {"outputs": [{"url": "s3://outputs/j0.mp4"}]}


class TaskTokens:
    """Step Functions' task-token API: the answers the engine gives, kept."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []

    def send_task_success(self, **request: Any) -> dict[str, Any]:
        self.answers.append(json.loads(request["output"]))
        return {}


@pytest.fixture
def run(api: Api, aws: LocalDeployment) -> tuple[Engine, JobStore, TaskTokens, str]:
    """A three-job chain as intake stored it, its run started: j0 completed, j1 processing, j2 pending."""
    execution_id = api.submit(chain(3)).body["id"]
    table = aws.names["ExecutionsTable"]
    store, tokens = JobStore(dynamodb_client(), table), TaskTokens()
    settings = EngineSettings.model_validate({"EXECUTIONS_TABLE_NAME": table, "EXECUTION_TIMEOUT_SECONDS": "600"})
    engine = Engine(store, tokens, settings, clock=lambda: NOW)
    pk = execution_pk(LOCAL_TENANT, execution_id)
    assert store.start_execution(pk, "arn:run", NOW)
    for job_id in ("j0", "j1"):
        assert store.mark_processing(pk, job_id, f"gate-{job_id}", NOW)
    assert store.complete_job(pk, "j0", RESULT, NOW)
    return engine, store, tokens, execution_id


def ended(detail_status: str, execution_id: str, error: str = "") -> dict[str, Any]:
    """An EventBridge "Step Functions Execution Status Change" event's detail."""
    state_input = {"tenantId": LOCAL_TENANT, "executionId": execution_id, "jobIds": ["j0", "j1", "j2"]}
    return {"status": detail_status, "input": json.dumps(state_input), "error": error}


def stored(table: Any, execution_id: str) -> dict[str, dict[str, Any]]:
    """The execution's items by sort key, as Python values; result and error parsed from their JSON text."""
    pk = execution_pk(LOCAL_TENANT, execution_id)
    items = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": pk})["Items"]
    for item in items:
        for name in ("result", "error"):
            if name in item:
                item[name] = json.loads(item[name])
    return {item["sk"]: item for item in items}


def test_a_timed_out_run_fails_the_execution_and_its_unfinished_jobs_with_the_timeout(
    run: tuple[Engine, JobStore, TaskTokens, str], table: Any
) -> None:
    engine, _, _, execution_id = run
    engine.state_machine_ended(ended("TIMED_OUT", execution_id))
    items = stored(table, execution_id)
    reason = "the execution did not finish within 600 seconds"
    assert (items["EXECUTION"]["status"], items["EXECUTION"]["error"]) == ("failed", reason)
    assert items["EXECUTION"]["completedAt"] == NOW
    assert [(items[f"JOB#{j}"]["status"], items[f"JOB#{j}"].get("error")) for j in ("j0", "j1", "j2")] == [
        ("completed", None),
        ("failed", reason),
        ("failed", reason),
    ]


def test_an_aborted_run_cancels_the_execution_and_its_unfinished_jobs_without_an_error(
    run: tuple[Engine, JobStore, TaskTokens, str], table: Any
) -> None:
    engine, _, _, execution_id = run
    engine.state_machine_ended(ended("ABORTED", execution_id))
    items = stored(table, execution_id)
    assert items["EXECUTION"]["status"] == "cancelled"
    assert "error" not in items["EXECUTION"]
    assert [(items[f"JOB#{j}"]["status"], "error" in items[f"JOB#{j}"]) for j in ("j0", "j1", "j2")] == [
        ("completed", False),
        ("cancelled", False),
        ("cancelled", False),
    ]
    assert "gateToken" not in items["JOB#j1"]  # a cancelled job waits for nothing


def test_a_failed_run_fails_the_unfinished_jobs_and_the_execution_names_them(
    run: tuple[Engine, JobStore, TaskTokens, str], table: Any
) -> None:
    engine, _, _, execution_id = run
    engine.state_machine_ended(ended("FAILED", execution_id, error="States.Runtime"))
    items = stored(table, execution_id)
    why = "the execution failed: States.Runtime"
    assert items["EXECUTION"]["status"] == "failed"
    assert items["EXECUTION"]["error"] == f"job j1 failed: {why}; job j2 failed: {why}"
    assert (items["JOB#j1"]["error"], items["JOB#j2"]["error"]) == (why, why)


def test_finish_completes_an_execution_whose_jobs_all_completed_with_its_last_leafs_output(
    run: tuple[Engine, JobStore, TaskTokens, str], table: Any
) -> None:
    engine, store, tokens, execution_id = run
    pk = execution_pk(LOCAL_TENANT, execution_id)
    assert store.mark_processing(pk, "j2", "gate-j2", NOW)
    for job_id in ("j1", "j2"):
        assert store.complete_job(pk, job_id, {"outputs": [{"url": f"s3://outputs/{job_id}.mp4"}]}, NOW)
    assert engine.finish(LOCAL_TENANT, execution_id, "finish-token") == "completed"
    items = stored(table, execution_id)
    assert items["EXECUTION"]["status"] == "completed"
    assert items["EXECUTION"]["result"] == {"url": "s3://outputs/j2.mp4", "status": "completed"}
    assert tokens.answers == [{"status": "completed"}]


def test_finish_says_which_jobs_never_ran(run: tuple[Engine, JobStore, TaskTokens, str], table: Any) -> None:
    engine, _, tokens, execution_id = run
    assert engine.finish(LOCAL_TENANT, execution_id, "finish-token") == "failed"
    items = stored(table, execution_id)
    never = "not run: the execution stopped before the job started"
    assert items["EXECUTION"]["error"] == f"job j1 failed: {never}; job j2 failed: {never}"
    assert "result" not in items["EXECUTION"]
    assert tokens.answers == [{"status": "failed"}]


@pytest.mark.parametrize("detail_status", ["TIMED_OUT", "ABORTED", "FAILED"])
def test_an_execution_that_had_ended_is_left_as_it_is(
    run: tuple[Engine, JobStore, TaskTokens, str], table: Any, detail_status: str
) -> None:
    # Given an execution cancelled by its client
    engine, _, _, execution_id = run
    engine.cancel(LOCAL_TENANT, execution_id)
    before = stored(table, execution_id)
    # When its run then ends, whichever way, then nothing changes
    engine.state_machine_ended(ended(detail_status, execution_id))
    assert stored(table, execution_id) == before
    assert engine.finish(LOCAL_TENANT, execution_id, "finish-token") == "cancelled"
