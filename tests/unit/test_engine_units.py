"""The engine's pure parts: topological order, dependency references, the simulated executor, the
state machine's input size at MAX_JOBS, and how outcomes are worded."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_api.engine.executors import (
    MAX_SIMULATED_MS,
    JobFailed,
    JobRequest,
    SimulatedExecutor,
    output_kind,
)
from execution_api.engine.messages import WorkJob
from execution_api.engine.outcomes import execution_error, execution_outcome, execution_result
from execution_api.engine.params import output_url, params_text, resolve_references
from execution_api.engine.scheduler import topological_order
from execution_api.engine.settings import EngineSettings
from execution_api.engine.step_functions import state_machine_execution_name
from execution_api.models.records import Job
from execution_api.storage.items import job_from_item


def item(job_id: str, position: int, depends_on: list[str], **extra: Any) -> Job:
    """A job record as the engine reads it, ended or not."""
    return Job(
        id=job_id, position=position, operation="merge", params={}, depends_on=tuple(depends_on), output=None, **extra
    )


@st.composite
def dags(draw: st.DrawFn) -> list[Job]:
    size = draw(st.integers(min_value=0, max_value=40))
    jobs = []
    for index in range(size):
        earlier = draw(st.lists(st.integers(min_value=0, max_value=max(index - 1, 0)), max_size=4, unique=True))
        jobs.append((f"j{index}", [f"j{e}" for e in earlier if e < index]))
    shuffled = draw(st.permutations(jobs))
    return [item(job_id, position, deps) for position, (job_id, deps) in enumerate(shuffled)]


@given(dags())
def test_topological_order_puts_every_job_after_its_dependencies(jobs: list[Job]) -> None:
    order = topological_order(jobs)
    seen: set[str] = set()
    by_id = {j.id: j for j in jobs}
    assert sorted(order) == sorted(by_id)
    for job_id in order:
        assert set(by_id[job_id].depends_on) <= seen
        seen.add(job_id)


def test_ties_keep_plan_order_and_base_dependencies_do_not_count() -> None:
    jobs = [
        item("b", 0, ["base1"], base_depends_on=("base1",)),
        item("a", 1, []),
        item("c", 2, ["a"]),
    ]
    assert topological_order(jobs) == ["b", "a", "c"]


def test_the_run_input_of_500_jobs_with_the_longest_ids_fits_step_functions_payloads() -> None:
    settings = EngineSettings.model_validate({"EXECUTIONS_TABLE_NAME": "t"})
    state_input = {
        "tenantId": "t" * 64,
        "executionId": "V1StGXR8_Z5jdHi6B-myT",
        "jobIds": [f"{i:0128d}" for i in range(500)],
        "config": settings.state_machine_input_config(),
    }
    assert len(json.dumps(state_input).encode()) < 256 * 1024


def test_run_names_are_deterministic_valid_and_tenant_specific() -> None:
    name = state_machine_execution_name("acme", "V1StGXR8_Z5jdHi6B-myT")
    assert name == state_machine_execution_name("acme", "V1StGXR8_Z5jdHi6B-myT")
    assert name != state_machine_execution_name("globex", "V1StGXR8_Z5jdHi6B-myT")
    assert len(name) <= 80
    assert name.replace("-", "").replace("_", "").isalnum()


def test_references_are_resolved_in_values_and_keys_at_any_depth() -> None:
    params = {
        "video": "_videoJobDependency:a",
        "items": [{"url": "_imageJobDependency:b"}, "_audioJobDependency:unknown"],
        "_videoJobDependency:a": "as a key",
        "text": "mentions _videoJobDependency:a inside",
    }
    urls = {"a": "https://o.invalid/a.mp4", "b": "https://o.invalid/b.png"}
    assert resolve_references(params, urls) == {
        "video": "https://o.invalid/a.mp4",
        "items": [{"url": "https://o.invalid/b.png"}, "_audioJobDependency:unknown"],
        "https://o.invalid/a.mp4": "as a key",
        "text": "mentions _videoJobDependency:a inside",
    }


def test_params_are_read_through_the_job_codec_and_travel_exactly() -> None:
    stored = '{"n": 1e-400, "k": [1, 2], "big": 12345678901234567890123456789012345678901}'
    params = job_from_item(
        {
            "jobId": {"S": "a"},
            "position": {"N": "0"},
            "operation": {"S": "merge"},
            "params": {"S": stored},
            "dependsOn": {"L": []},
            "status": {"S": "pending"},
        }
    ).params
    assert params == {"n": Decimal("1E-400"), "k": [1, 2], "big": 12345678901234567890123456789012345678901}
    # The job message carries them as text, so Step Functions and SQS cannot round a number on the way
    job = WorkJob.model_validate(
        {"tenantId": "t", "executionId": "e", "id": "a", "operation": "x", "paramsJson": params_text(params)}
    )
    assert job.params() == params
    assert str(job.params()["n"]) == "1E-400"


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


def test_the_execution_result_is_the_last_leaf_jobs_first_output() -> None:
    url = "https://o.invalid/x.mp4"
    jobs = [
        item("a", 0, [], status="completed", result={"outputs": [{"url": "https://o.invalid/a.mp4"}]}),
        item("x", 1, ["a"], status="completed", result={"outputs": [{"url": url}, {"url": "second"}]}),
    ]
    assert execution_result(jobs) == {"url": url, "status": "completed"}
    assert execution_outcome(jobs) == ("completed", {"url": url, "status": "completed"}, None)
    assert execution_result([]) is None
    assert execution_outcome([]) == ("completed", None, None)  # an empty plan completes with no result
    assert output_url({"outputs": []}) is None


def test_the_execution_error_names_root_causes_first() -> None:
    failed = [
        item("b", 1, ["a"], status="failed", error="Dependency job failed: a"),
        item("a", 0, [], status="failed", error="provider refused"),
    ]
    assert execution_error(failed) == "job a failed: provider refused (and 1 more job not completed)"
    # One job short of completion fails the execution with the error, never a result
    status, result, error = execution_outcome([item("c", 2, [], status="completed"), *failed])
    assert (status, result, error) == ("failed", None, execution_error(failed))
    # A job without an error (cancelled) is named by its status
    assert execution_error([item("d", 0, [], status="cancelled")]) == "job d failed: cancelled"
