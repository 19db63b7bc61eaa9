"""No execution stays processing: a job that overruns JOB_TIMEOUT_SECONDS fails, and an execution that
overruns EXECUTION_TIMEOUT_SECONDS fails (the state machine's TimeoutSeconds, then its status event).

The overrunning job runs 3 s against a 2 s limit: it starts after the run (and its task) did, so it always
overruns, and the test waits for it to end (engine.run) 3 s rather than 6."""

from __future__ import annotations

import pytest

from tests.engine.conftest import Engine


@pytest.mark.moto_only("ministack 1.5.33 does not enforce a callback task's TimeoutSecondsPath")
@pytest.mark.engine_settings(JOB_TIMEOUT_SECONDS="2", JOB_HEARTBEAT_SECONDS="1", SIMULATED_JOB_MS="0")
def test_a_job_that_overruns_its_timeout_fails_and_the_others_finish(engine: Engine) -> None:
    execution_id = engine.submit(
        {"id": "stuck", "params": {"simulate": {"ms": 3000}}},
        {"id": "after", "dependsOn": ["stuck"]},
        {"id": "free"},
    )

    status = engine.run(execution_id)

    jobs = engine.jobs(execution_id)
    assert jobs["stuck"]["status"] == "failed"
    assert jobs["stuck"]["error"] == "the job did not finish within 2 seconds"
    assert jobs["after"]["error"] == "Dependency job failed: stuck"
    assert jobs["free"]["status"] == "completed"
    assert status["status"] == "failed"


@pytest.mark.moto_only("ministack 1.5.33 does not enforce a state machine's TimeoutSeconds")
@pytest.mark.engine_parameters(ExecutionTimeoutSeconds="2")
def test_an_execution_that_overruns_its_timeout_fails(engine: Engine) -> None:
    execution_id = engine.submit(
        {"id": "long", "params": {"simulate": {"ms": 3000}}}, {"id": "next", "dependsOn": ["long"]}
    )

    status = engine.run(execution_id)

    assert status["status"] == "failed"
    assert status["error"] == "the execution did not finish within 2 seconds"
    assert {j["status"] for j in status["jobs"]} == {"failed"}
    assert [run["status"] for run in engine.runs()] == ["TIMED_OUT"]
