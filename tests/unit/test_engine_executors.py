"""The executors' contract: the simulated executor (deterministic, steerable, bounded) and output kinds."""

from __future__ import annotations

import pytest

from execution_api.engine.executors import (
    MAX_SIMULATED_MS,
    JobFailed,
    JobRequest,
    SimulatedExecutor,
    output_kind,
)


def test_the_simulated_executor_is_deterministic_and_steerable() -> None:
    slept: list[float] = []
    beats: list[int] = []
    executor = SimulatedExecutor(default_ms=1000, sleep=slept.append)
    job = JobRequest("exec1", "job:1", "generateImage", {})
    result = executor.run(job, lambda: beats.append(1))
    assert result["outputs"] == [
        {"type": "image", "url": "https://outputs.execution-api.invalid/exec1/job%3A1.png", "mimeType": "image/png"}
    ]
    assert sum(slept) == pytest.approx(1.0) and beats  # noqa: PT018 - one wait, with heartbeats offered
    assert (
        executor.run(JobRequest("e", "j", "merge", {"simulate": {"ms": 0}}), lambda: None)["outputs"][0]["mimeType"]
        == "video/mp4"
    )
    with pytest.raises(JobFailed) as failed:
        executor.run(JobRequest("e", "j", "merge", {"simulate": {"ms": 0, "failWith": "no"}}), lambda: None)
    assert (failed.value.message, failed.value.retryable) == ("no", False)
    with pytest.raises(JobFailed) as flaky:
        executor.run(JobRequest("e", "j", "merge", {"simulate": {"ms": 0, "failAttempts": 1}}), lambda: None)
    assert flaky.value.retryable
    assert executor.run(JobRequest("e", "j", "merge", {"simulate": {"ms": 0, "failAttempts": 1}}, 2), lambda: None)


def test_a_simulated_job_runs_at_most_a_lambda_invocations_limit() -> None:
    # Given a job asking for more than Lambda's 15 minutes, and one asking for exactly that
    slept: list[float] = []
    executor = SimulatedExecutor(sleep=slept.append)
    # Then the first fails at once, in words, without waiting (docs/engine.md)
    with pytest.raises(JobFailed, match="at most 900000") as failure:
        executor.run(JobRequest("e", "j", "merge", {"simulate": {"ms": MAX_SIMULATED_MS + 1}}), lambda: None)
    assert not failure.value.retryable
    assert slept == []
    # And the second runs its whole time
    result = executor.run(JobRequest("e", "j", "merge", {"simulate": {"ms": MAX_SIMULATED_MS}}), lambda: None)
    assert sum(slept) == pytest.approx(MAX_SIMULATED_MS / 1000) == pytest.approx(900)
    assert result["metadata"]["ms"] == MAX_SIMULATED_MS


def test_output_kinds_follow_the_operation() -> None:
    assert output_kind("textToSpeech")[0] == "audio"
    assert output_kind("transcribe")[0] == "text"
    assert output_kind("addSubtitles")[0] == "video"
