"""Credentials sealed at intake reach the job's executor opened, and only there."""

from __future__ import annotations

from typing import Any

import pytest

from execution_api.engine import worker as worker_module
from execution_api.engine.executors import JobRequest, SimulatedExecutor
from tests.engine.conftest import Engine


def test_the_worker_opens_sealed_credentials_for_the_executor(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an executor that records what it is handed
    seen: list[JobRequest] = []

    class Recording(SimulatedExecutor):
        def run(self, request: JobRequest, heartbeat: Any) -> Any:
            seen.append(request)
            return super().run(request, heartbeat)

    monkeypatch.setattr(worker_module, "executor_for", lambda operation, settings: Recording(default_ms=0))
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
