"""Which worker runs a job (docs/engine.md, "Routing"): the queue the engine names at the gate and the
executor a worker chooses, with and without the simulated executor and the local provider."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_api import media
from execution_api.core.operations import (
    BUILT_IN_OPERATIONS,
    GENERATION_OPERATIONS,
    MEDIA_OPERATIONS,
    accepted_operations,
)
from execution_api.engine.executors import JobFailed, JobRequest
from execution_api.engine.messages import GateAnswer
from execution_api.engine.params import params_text
from execution_api.engine.scheduler import Engine
from execution_api.engine.selection import SelectedExecutor
from execution_api.engine.settings import EngineSettings
from execution_api.storage.items import job_from_item
from execution_api.storage.jobs import JobStore
from execution_api.storage.keys import execution_pk

WORK, MEDIA, CUSTOM = "https://sqs/work", "https://sqs/media", "https://sqs/custom"


def settings(**fields: Any) -> EngineSettings:
    values = {"EXECUTIONS_TABLE_NAME": "t", "WORK_QUEUE_URL": WORK, "MEDIA_QUEUE_URL": MEDIA, **fields}
    return EngineSettings.model_validate(values)


def test_the_routing_sets_are_the_media_packages() -> None:
    # The engine and intake must not import ffmpeg's package, so they hold their own copy: kept equal here.
    assert MEDIA_OPERATIONS == media.MEDIA_OPERATIONS
    assert GENERATION_OPERATIONS == media.GENERATION_OPERATIONS


@pytest.mark.parametrize(
    ("operation", "params", "simulated", "local", "queue"),
    [
        ("merge", {}, "false", "false", MEDIA),
        ("reframe", {}, "true", "true", MEDIA),
        ("reframe", {"simulate": {"ms": 1}}, "true", "true", WORK),  # simulated where enabled
        ("reframe", {"simulate": {"ms": 1}}, "false", "false", MEDIA),  # ignored in a deployed stack
        ("generate", {}, "false", "false", WORK),  # real providers run on the work queue
        ("generate", {}, "true", "true", MEDIA),  # the local provider needs ffmpeg
        ("upscale", {}, "false", "false", WORK),  # a custom worker's operation
        ("madeUp", {}, "true", "true", WORK),  # the simulated executor, on the work queue
    ],
)
def test_the_gate_names_the_queue_of_the_jobs_worker(
    operation: str, params: dict[str, Any], simulated: str, local: str, queue: str
) -> None:
    chosen = settings(SIMULATED_EXECUTOR=simulated, LOCAL_PROVIDERS=local).queue_url(operation, params)
    assert chosen == queue


@pytest.mark.parametrize(
    ("operation", "params", "simulated", "queue"),
    [
        ("upscale", {}, "false", CUSTOM),  # AllowedOperations' jobs: the custom worker's own queue
        ("upscale", {"simulate": {"ms": 1}}, "true", WORK),  # simulated where enabled, as without the queue
        ("merge", {}, "false", MEDIA),  # built-in jobs never go to the custom queue
        ("generate", {}, "false", WORK),
        ("transcribe", {}, "false", WORK),
    ],
)
def test_with_a_custom_queue_only_custom_operations_go_there(
    operation: str, params: dict[str, Any], simulated: str, queue: str
) -> None:
    chosen = settings(SIMULATED_EXECUTOR=simulated, CUSTOM_QUEUE_URL=CUSTOM).queue_url(operation, params)
    assert chosen == queue


def test_a_missing_queue_is_named() -> None:
    with pytest.raises(RuntimeError, match="MEDIA_QUEUE_URL is not configured"):
        EngineSettings.model_validate({"EXECUTIONS_TABLE_NAME": "t"}).queue_url("merge", {})


def test_intake_accepts_any_name_only_where_the_simulated_executor_runs() -> None:
    assert accepted_operations(frozenset({"upscale"}), simulated_executor=True) == frozenset()  # empty: any
    assert accepted_operations(frozenset({"upscale"}), simulated_executor=False) == (
        MEDIA_OPERATIONS | GENERATION_OPERATIONS | {"upscale"}
    )


class Recording:
    def __init__(self) -> None:
        self.jobs: list[JobRequest] = []

    def run(self, job: JobRequest, heartbeat: Any) -> dict[str, Any]:
        self.jobs.append(job)
        return {"status": "completed", "outputs": [], "metadata": {"executor": "media"}}


class ProviderRecording(Recording):
    def run(self, job: JobRequest, heartbeat: Any) -> dict[str, Any]:
        self.jobs.append(job)
        return {"status": "completed", "outputs": [], "metadata": {"executor": "providers"}}


def run(operation: str, params: dict[str, Any], **fields: Any) -> tuple[dict[str, Any], Recording]:
    recording, providers = Recording(), ProviderRecording()
    chosen = SelectedExecutor(
        settings(SIMULATED_JOB_MS="0", **fields), media=lambda: recording, providers=lambda: providers
    )
    return chosen.run(JobRequest("e", "j", operation, params), lambda: None), recording


def test_a_worker_runs_simulate_and_unknown_names_simulated_only_where_enabled() -> None:
    result, media_executor = run("reframe", {"simulate": {}}, SIMULATED_EXECUTOR="true")
    assert result["metadata"]["executor"] == "simulated"
    result, _ = run("madeUp", {}, SIMULATED_EXECUTOR="true")
    assert result["metadata"]["executor"] == "simulated"
    result, media_executor = run("reframe", {"simulate": {}}, SIMULATED_EXECUTOR="false")
    assert result["metadata"]["executor"] == "media"
    assert [job.operation for job in media_executor.jobs] == ["reframe"]


def test_generation_runs_on_the_provider_executor_which_decides_on_the_local_provider() -> None:
    # The provider executor hands a job with no key to the local provider where it stands in
    # (tests/providers/test_keys_and_speech.py); the media executor never sees a generation here.
    for local in ("true", "false"):
        result, media = run("generate", {"prompt": "a cat"}, LOCAL_PROVIDERS=local)
        assert result["metadata"]["executor"] == "providers"
        assert media.jobs == []


def test_an_operation_no_worker_runs_fails_for_good_naming_it() -> None:
    with pytest.raises(JobFailed) as failed:
        run("upscale", {}, SIMULATED_EXECUTOR="false")
    assert (failed.value.message, failed.value.retryable) == (
        "no worker of this deployment runs operation 'upscale'",
        False,
    )


class OneJobTable:
    """The engine's DynamoDB as the gate and a job's failure use it: one job item, no dependencies; the
    errors written are kept."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.errors: list[str] = []

    def get_item(self, **request: Any) -> dict[str, Any]:
        return {"Item": self.item}

    def update_item(self, **request: Any) -> dict[str, Any]:
        if ":error" in request["ExpressionAttributeValues"]:
            self.errors.append(json.loads(request["ExpressionAttributeValues"][":error"]["S"]))
        return {}


class TaskTokens:
    def send_task_success(self, **request: Any) -> dict[str, Any]:
        return {}


def job_item(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "jobId": {"S": "a"},
        "executionId": {"S": "e"},
        "position": {"N": "0"},
        "operation": {"S": operation},
        "params": {"S": params_text(params)},
        "dependsOn": {"L": []},
        "status": {"S": "processing"},
    }


def gate_answer(operation: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
    item = job_item(operation, params)
    engine = Engine(JobStore(OneJobTable(item), "t"), None, settings(**fields))
    return engine.job_message(execution_pk("acme", "e"), job_from_item(item))


REPLICATE = {"provider": "replicate", "modelId": "minimax/video-01", "prompt": "a cat"}


@pytest.mark.parametrize(
    ("operation", "params", "simulated", "local", "queue", "timeout"),
    [
        ("generate", REPLICATE, "false", "false", WORK, 3600),  # a provider's prediction: its own timeout
        ("generateAudio", {"text": "hi"}, "false", "false", WORK, 3600),  # ElevenLabs too: a provider job
        ("generate", REPLICATE, "true", "true", MEDIA, 3600),  # make run: a key may still send it to replicate
        ("generate", {**REPLICATE, "simulate": {"ms": 1}}, "true", "true", WORK, 900),  # no provider runs it
        ("merge", {}, "false", "false", MEDIA, 900),  # ffmpeg, not a provider
        ("upscale", {}, "false", "false", WORK, 900),  # a custom worker's operation
        ("madeUp", {}, "true", "true", WORK, 900),  # the simulated executor
    ],
)
def test_the_gate_answer_carries_the_jobs_own_timeout_routed_like_its_queue(
    operation: str, params: dict[str, Any], simulated: str, local: str, queue: str, timeout: int
) -> None:
    answer = gate_answer(operation, params, SIMULATED_EXECUTOR=simulated, LOCAL_PROVIDERS=local)
    assert (answer["queueUrl"], answer["timeoutSeconds"]) == (queue, timeout)
    assert (answer["id"], answer["operation"]) == ("a", operation)


@pytest.mark.parametrize("output", [None, "$job1"])
def test_the_gate_answer_is_a_gate_answer_model(output: str | None) -> None:
    item = job_item("merge", {"n": 1.5}) | ({"output": {"S": output}} if output else {})
    engine = Engine(JobStore(OneJobTable(item), "t"), None, settings())
    answer = engine.job_message(execution_pk("acme", "e"), job_from_item(item))
    assert answer == GateAnswer.model_validate(answer).wire()  # no field the model does not declare
    expected = {"tenantId": "acme", "executionId": "e", "id": "a", "operation": "merge", "paramsJson": '{"n":1.5}'}
    assert answer == {**expected, "dependencies": {}, "queueUrl": MEDIA, "timeoutSeconds": 900} | (
        {"output": output} if output else {}
    )


def test_both_timeouts_come_from_the_settings_and_the_heartbeat_stays_below_the_shorter() -> None:
    fields = {"JOB_TIMEOUT_SECONDS": "120", "PROVIDER_JOB_TIMEOUT_SECONDS": "7200", "JOB_HEARTBEAT_SECONDS": "300"}
    assert gate_answer("generate", REPLICATE, **fields)["timeoutSeconds"] == 7200
    assert gate_answer("reframe", {}, **fields)["timeoutSeconds"] == 120
    assert settings(**fields).state_machine_input_config()["heartbeatSeconds"] == 119
    # A provider timeout below the others' (an operator's choice) still keeps Step Functions' rule.
    shorter = {**fields, "PROVIDER_JOB_TIMEOUT_SECONDS": "60"}
    assert settings(**shorter).state_machine_input_config()["heartbeatSeconds"] == 59


@given(
    job=st.integers(min_value=2, max_value=10**8),
    provider=st.integers(min_value=2, max_value=10**8),
    heartbeat=st.integers(min_value=1, max_value=10**8),
    operation=st.sampled_from(sorted(BUILT_IN_OPERATIONS | {"upscale"})),
)
def test_the_heartbeat_is_below_every_jobs_timeout(job: int, provider: int, heartbeat: int, operation: str) -> None:
    # Step Functions refuses a task whose HeartbeatSeconds is not below its TimeoutSeconds.
    chosen = settings(JOB_TIMEOUT_SECONDS=job, PROVIDER_JOB_TIMEOUT_SECONDS=provider, JOB_HEARTBEAT_SECONDS=heartbeat)
    beat = chosen.state_machine_input_config()["heartbeatSeconds"]
    assert 1 <= beat < chosen.job_timeout(operation, {})
    assert beat == min(heartbeat, job - 1, provider - 1)  # never shorter than it must be


@pytest.mark.parametrize(("operation", "params", "seconds"), [("generate", REPLICATE, 3600), ("merge", {}, 900)])
def test_a_timed_out_job_is_told_its_own_timeout(operation: str, params: dict[str, Any], seconds: int) -> None:
    table = OneJobTable(job_item(operation, params))
    engine = Engine(JobStore(table, "t"), TaskTokens(), settings())
    engine.failed("acme", "e", "a", {"Error": "States.Timeout", "Cause": ""}, "token")
    assert table.errors == [f"the job did not finish within {seconds} seconds"]
