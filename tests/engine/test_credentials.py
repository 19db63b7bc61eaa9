"""Credentials sealed at intake reach the job's executor opened, and only there."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution_api.core import exact_json
from tests.engine.conftest import Engine, recording_executor


def test_the_worker_opens_sealed_credentials_for_the_executor(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an executor that records what it is handed
    seen = recording_executor(monkeypatch)
    # When a job with a key in its params and provider keys in the options runs
    params = {"provider": "replicate", "auth": {"apiKey": "r8_engine_key"}, "n": 2}
    execution_id = engine.submit(
        {"id": "a", "operation": "generateVideo", "params": params},
        {"id": "b", "operation": "merge", "params": {"video": "_videoJobDependency:a"}, "dependsOn": ["a"]},
    )
    status = engine.run(execution_id)
    # Then the execution completed and the executor got the key back in place, and the provider keys
    assert status["status"] == "completed", status
    first = next(r for r in seen if r.job_id == "a")
    assert first.params == params
    second = next(r for r in seen if r.job_id == "b")
    assert second.params["video"].startswith("https://outputs.execution-api.invalid/")
    assert "r8_engine_key" not in str(status)


def test_params_reach_the_executor_with_every_digit(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an executor that records what it is handed
    seen = recording_executor(monkeypatch)
    # When a job's params hold numbers a double cannot keep, passing through Step Functions and SQS
    params = {
        "fps": Decimal("23.976"),
        "tiny": Decimal("1E-400"),
        "big": 2**140,
        "gain": Decimal("0.10000000000000000555"),
    }
    body = {"executionPlan": {"jobs": [{"id": "a", "operation": "generateVideo", "params": params}]}}
    answer = engine.api.submit(None, raw=exact_json.dumps(body))
    assert answer.status == 202, answer.body
    status = engine.run(answer.body["id"])
    # Then the executor gets them exactly: the same Decimals and integer, not rounded floats
    assert status["status"] == "completed", status
    (request,) = seen
    assert request.params == params
    assert all(type(request.params[name]) is type(value) for name, value in params.items())
    assert str(request.params["tiny"]) == "1E-400"
