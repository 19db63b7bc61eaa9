"""Issue 23 through the engine (the template's state machine on moto, the real worker): what an execution
reads as at its end, failure texts without credentials, credentials under and as dependency references,
no retry of what cannot succeed."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from execution_api.engine import worker as worker_module
from execution_api.engine.executors import JobRequest, SimulatedExecutor
from tests.engine.conftest import Engine, recording_executor


def attempts(engine: Engine, execution_id: str, job_id: str) -> int:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=engine.stack.names["ExecutionsTable"],
        Key={"pk": {"S": f"TENANT#local#EXECUTION#{execution_id}"}, "sk": {"S": f"JOB#{job_id}"}},
    )["Item"]
    return int(item["attempts"]["N"])


def test_the_result_is_the_leaf_that_completed_last(engine: Engine) -> None:
    # Given two leaves: the first in plan order is slow, the second quick
    execution_id = engine.submit(
        {"id": "slow", "params": {"simulate": {"ms": 400}}}, {"id": "quick", "params": {"simulate": {"ms": 0}}}
    )
    # When both complete
    status = engine.run(execution_id)
    # Then the execution's result is the one that completed last, as in the original backend
    assert status["status"] == "completed", status
    assert status["result"]["url"] == status["jobs"][0]["result"]["outputs"][0]["url"]
    assert status["result"]["url"].endswith("/slow.mp4")


@pytest.mark.engine_parameters(JobMaxAttempts="3")
def test_an_opened_credential_never_comes_back_in_a_failure_text(engine: Engine) -> None:
    # Given a job whose failure reason holds a value sealed at intake (under "token"), and a provider key
    params = {"simulate": {"failWith": {"token": "CNRYf1Z", "note": "auth with sk-prov-77 failed"}}}
    body = {
        "executionPlan": {"jobs": [{"id": "a", "operation": "generateVideo", "params": params}]},
        "options": {"providerApiKeys": {"acme": "sk-prov-77"}},
    }
    answer = engine.api.submit(body)
    assert answer.status == 202, answer.body
    # When it fails
    status = engine.run(answer.body["id"])
    # Then neither value is in the status (job and execution), nor in the state machine's history
    assert status["status"] == "failed"
    error = status["jobs"][0]["error"]
    assert error == '{"token":"[redacted]","note":"auth with [redacted] failed"}'
    assert "CNRYf1Z" not in json.dumps(status)
    assert "sk-prov-77" not in json.dumps(status)
    [run] = engine.runs()
    events = engine.sfn.get_execution_history(executionArn=run["executionArn"])["events"]
    assert "CNRYf1Z" not in json.dumps(events, default=str)


def test_a_credential_under_a_reference_key_is_opened_where_the_key_resolved(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a credential nested under an object key that is a dependency reference
    seen = recording_executor(monkeypatch)
    execution_id = engine.submit(
        {"id": "a"},
        {"id": "b", "params": {"inputs": {"_videoJobDependency:a": {"apiKey": "k-under-ref"}}}, "dependsOn": ["a"]},
    )
    # When it runs
    status = engine.run(execution_id)
    # Then it completes and the executor finds the key under the dependency's url
    assert status["status"] == "completed", status
    request = next(r for r in seen if r.job_id == "b")
    [(url, value)] = request.params["inputs"].items()
    assert url.startswith("https://outputs.execution-api.invalid/")
    assert url.endswith("/a.mp4")
    assert value == {"apiKey": "k-under-ref"}


def test_a_credential_that_is_a_dependency_reference_is_resolved(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a credential-named field whose value is a dependency reference (sealed before references resolve)
    seen = recording_executor(monkeypatch)
    execution_id = engine.submit(
        {"id": "a"}, {"id": "b", "params": {"apiToken": "_videoJobDependency:a"}, "dependsOn": ["a"]}
    )
    # When it runs
    assert engine.run(execution_id)["status"] == "completed"
    # Then the executor gets the dependency's url, like any other reference
    request = next(r for r in seen if r.job_id == "b")
    assert request.params["apiToken"].endswith("/a.mp4")


@pytest.mark.engine_parameters(JobMaxAttempts="3")
def test_an_unexpected_exception_is_one_failed_attempt_in_plain_words(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an executor with a bug (a KeyError: retrying cannot help)
    class Broken(SimulatedExecutor):
        def run(self, request: JobRequest, heartbeat: Any) -> Any:
            raise KeyError("outputs")

    monkeypatch.setattr(worker_module, "executor_for", lambda operation, settings: Broken(default_ms=0))
    execution_id = engine.submit({"id": "a"})
    # When it runs
    status = engine.run(execution_id)
    # Then one attempt was made, and the error is plain words
    assert status["status"] == "failed"
    assert status["jobs"][0]["error"] == "the worker failed unexpectedly"
    assert attempts(engine, execution_id, "a") == 1


@pytest.mark.engine_parameters(JobMaxAttempts="3")
def test_fail_attempts_true_is_not_one(engine: Engine) -> None:
    # Given failAttempts: true (not a number of attempts)
    execution_id = engine.submit({"id": "a", "params": {"simulate": {"failAttempts": True}}})
    # Then it is ignored: the job completes on its first attempt
    assert engine.run(execution_id)["status"] == "completed"
    assert attempts(engine, execution_id, "a") == 1


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ({"a": 1.5, "b": [None, True]}, '{"a":1.5,"b":[null,true]}'),
        (None, "null"),
        (12, "12"),
        ("plain words", "plain words"),
    ],
)
def test_a_failure_reason_that_is_not_a_string_reads_as_json(engine: Engine, reason: Any, error: str) -> None:
    execution_id = engine.submit({"id": "a", "params": {"simulate": {"failWith": reason}}})
    status = engine.run(execution_id)
    assert status["jobs"][0]["error"] == error
    assert status["error"] == f"job a failed: {error}"


def test_simulate_ms_over_its_bound_fails_at_once_in_words(engine: Engine) -> None:
    execution_id = engine.submit({"id": "a", "params": {"simulate": {"ms": 900_001}}})
    status = engine.run(execution_id, timeout_s=30)
    assert status["jobs"][0]["error"] == "simulate.ms is 900001; at most 900000 (15 minutes) can be simulated"
    assert attempts(engine, execution_id, "a") == 1
