"""The engine's and workers' messages (execution_api/engine/messages.py): the action names and fields are the
state machine definition's, every message round-trips, and whatever else arrives is refused by Powertools'
parser without quoting the task token."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from execution_api.engine.messages import (
    ENGINE_ACTIONS,
    JOB_DEPENDENCY_FAILED,
    JOB_FAILED,
    JOB_NOT_FOUND,
    JOB_NOT_RUN,
    JOB_RETRYABLE,
    Completed,
    EngineRecord,
    Failed,
    Finish,
    Gate,
    GateAnswer,
    JobAttempt,
    PredictionCheck,
    WorkJob,
    WorkRecord,
)
from execution_api.providers.checks import check_message

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAT0k3n-the-task-token-is-a-secret"
# pydantic shortens a quoted input to its start and end: any ten characters of the token would be a leak.
WINDOW = 10


def quotes_the_token(text: str) -> bool:
    return any(TOKEN[start : start + WINDOW] in text for start in range(len(TOKEN) - WINDOW + 1))


ENGINE_MODELS: dict[str, type[BaseModel]] = {"gate": Gate, "completed": Completed, "failed": Failed, "finish": Finish}


def definition() -> dict[str, Any]:
    text = (ROOT / "statemachine" / "execution.asl.json").read_text()
    # A substitution outside a string is a number (a timeout, a count); inside one it stays as written.
    parsed: dict[str, Any] = json.loads(re.sub(r'(?<!")\$\{\w+\}(?!")', "1", text))
    return parsed


def task_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of the definition, the Map's own included, by name."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        found[name] = state
        if "ItemProcessor" in state:
            found |= task_states(state["ItemProcessor"]["States"])
    return found


STATES = task_states(definition()["States"])
ENGINE_BODIES = {
    name: state["Parameters"]["MessageBody"]
    for name, state in STATES.items()
    if state.get("Parameters", {}).get("QueueUrl") == "${EngineQueueUrl}"
}


def wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def sent_names(body: dict[str, Any]) -> set[str]:
    """The fields a MessageBody writes ("taskToken.$" writes taskToken)."""
    return {key.removesuffix(".$") for key in body}


def sqs_record(body: str, message_id: str = "m-1") -> dict[str, Any]:
    """An SQS record as Lambda hands it to a function."""
    attributes = {
        "ApproximateReceiveCount": "1",
        "ApproximateFirstReceiveTimestamp": "1765100000000",
        "SenderId": "AROAEXAMPLE:states",
        "SentTimestamp": "1765100000000",
    }
    return {
        "messageId": message_id,
        "receiptHandle": "handle",
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:EngineQueue",
        "awsRegion": "us-east-1",
    }


# ---- one source for the action names and the fields ----
def test_the_engine_actions_are_the_definitions() -> None:
    sent = sorted(body["action"] for body in ENGINE_BODIES.values())
    assert sent == sorted(ENGINE_ACTIONS)
    assert len(ENGINE_BODIES) == 4  # WaitForDependencies, RecordSuccess, RecordFailure, Finish


@pytest.mark.parametrize("state", sorted(ENGINE_BODIES))
def test_each_engine_message_declares_exactly_the_fields_its_state_sends(state: str) -> None:
    body = ENGINE_BODIES[state]
    assert wire_names(ENGINE_MODELS[body["action"]]) == sent_names(body)


def test_the_job_attempt_declares_exactly_the_fields_run_job_sends() -> None:
    assert wire_names(JobAttempt) == sent_names(STATES["RunJob"]["Parameters"]["MessageBody"])


def test_the_task_errors_are_the_names_the_definition_retries_and_catches() -> None:
    run_job, gate = STATES["RunJob"], STATES["WaitForDependencies"]
    # RunJob retries a retryable failure (and a missed heartbeat), nothing else the workers send ...
    [retry] = run_job["Retry"]
    assert retry["ErrorEquals"] == [JOB_RETRYABLE, "States.HeartbeatTimeout"]
    # ... and takes every other failure to RecordFailure; the gate's failures end the job's iteration (NotRun).
    assert run_job["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RecordFailure"}]
    assert gate["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "NotRun"}]
    final = (JOB_FAILED, JOB_NOT_RUN, JOB_DEPENDENCY_FAILED, JOB_NOT_FOUND)
    assert not any(
        name in rule["ErrorEquals"] for state in STATES.values() for rule in state.get("Retry", []) for name in final
    )
    # Every Job.* name the definition writes is one of the engine's.
    text = (ROOT / "statemachine" / "execution.asl.json").read_text()
    assert set(re.findall(r'"(Job\.\w+)"', text)) <= {JOB_RETRYABLE, *final}


def test_the_gate_answer_is_the_job_a_worker_reads_and_what_run_job_reads_of_it() -> None:
    # WaitForDependencies puts its answer at $.job; RunJob sends it on as the attempt's job and reads two fields.
    run_job = STATES["RunJob"]
    assert STATES["WaitForDependencies"]["ResultPath"] == "$.job" == run_job["Parameters"]["MessageBody"]["job.$"]
    for_step_functions = {run_job["Parameters"]["QueueUrl.$"], run_job["TimeoutSecondsPath"]}
    assert {f"$.job.{name}" for name in wire_names(GateAnswer) - wire_names(WorkJob)} == for_step_functions | {
        "$.job.output"  # passed on, read by no one: the plan's label for the job's output
    }


def test_the_providers_check_message_is_a_prediction_check() -> None:
    record = WorkRecord.model_validate(sqs_record(check_message("replicate:abc")))
    assert record.body == PredictionCheck(prediction="replicate:abc")


# ---- round trips ----
ids = st.text(min_size=1, max_size=30)
# A provider's text, passed on in a result or an error: any code point, lone surrogates ("\ud800") as often
# as not (json.dumps escapes them, json.loads reads them back).
provider_texts = st.lists(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=12).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | provider_texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(provider_texts, inner, max_size=4),
    max_leaves=12,
)
tokens = st.text(max_size=10).map(lambda tail: f"{TOKEN}{tail}")
keys = st.fixed_dictionaries({"tenantId": ids, "executionId": ids, "taskToken": tokens})
engine_messages = st.one_of(
    st.tuples(keys, st.fixed_dictionaries({"action": st.just("gate"), "jobId": ids})),
    st.tuples(keys, st.fixed_dictionaries({"action": st.just("completed"), "jobId": ids, "result": json_values})),
    st.tuples(keys, st.fixed_dictionaries({"action": st.just("failed"), "jobId": ids, "failure": json_values})),
    st.tuples(keys, st.fixed_dictionaries({"action": st.just("finish")})),
).map(lambda parts: parts[0] | parts[1])


@given(engine_messages)
def test_every_engine_message_round_trips(wire: dict[str, Any]) -> None:
    body = json.dumps(wire)
    message = EngineRecord.model_validate(sqs_record(body)).body
    assert type(message) is ENGINE_MODELS[wire["action"]]
    # The result and failure exactly as json.loads reads them (it joins an escaped surrogate pair into one).
    assert message.model_dump(by_alias=True) == json.loads(body)
    assert not quotes_the_token(repr(message))


@pytest.mark.parametrize(("action", "field"), [("completed", "result"), ("failed", "failure")])
def test_a_lone_surrogate_in_a_result_or_a_failure_is_read_as_json_loads_reads_it(action: str, field: str) -> None:
    text = "a provider said \ud83d and stopped"  # half of a surrogate pair: not UTF-8, still JSON
    wire = {"action": action, "tenantId": "t", "executionId": "e", "jobId": "a", "taskToken": TOKEN, field: [text]}
    message = EngineRecord.model_validate(sqs_record(json.dumps(wire))).body
    assert message.model_dump(by_alias=True)[field] == [text] == json.loads(json.dumps(wire))[field]


@given(
    st.fixed_dictionaries(
        {"tenantId": ids, "executionId": ids, "id": ids, "operation": ids, "paramsJson": st.just('{"n": 1e-400}')},
        optional={"dependencies": st.dictionaries(ids, st.none() | st.text(), max_size=3)},
    ),
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=1, max_value=3600),
)
def test_every_job_attempt_round_trips(job: dict[str, Any], attempt: int, heartbeat: int) -> None:
    wire = {"job": job, "attempt": attempt, "heartbeatSeconds": heartbeat, "taskToken": TOKEN}
    message = WorkRecord.model_validate(sqs_record(json.dumps(wire))).body
    assert isinstance(message, JobAttempt)
    assert (message.attempt, message.heartbeat_seconds, message.task_token) == (attempt, heartbeat, TOKEN)
    assert message.job.model_dump(by_alias=True) == {"dependencies": {}, **job}
    assert str(message.job.params()["n"]) == "1E-400"
    assert not quotes_the_token(repr(message))


gate_answers = st.fixed_dictionaries(
    {
        "tenantId": ids,
        "executionId": ids,
        "id": ids,
        "operation": ids,
        "paramsJson": st.just('{"n": 1e-400}'),
        "dependencies": st.dictionaries(ids, st.none() | st.text(), max_size=3),
        "queueUrl": ids,
        "timeoutSeconds": st.integers(min_value=1, max_value=10**6),
    },
    optional={"output": st.text()},
).map(GateAnswer.model_validate)


@given(gate_answers)
def test_the_worker_reads_the_gate_answer_as_sent(answer: GateAnswer) -> None:
    # The bytes SendTaskSuccess hands Step Functions, sent on by RunJob inside the attempt, are what the worker reads.
    sent = json.dumps({"job": answer.wire(), "attempt": 1, "heartbeatSeconds": 60, "taskToken": TOKEN})
    message = WorkRecord.model_validate(sqs_record(sent)).body
    assert isinstance(message, JobAttempt)
    assert message.job == WorkJob.model_validate(answer.model_dump(by_alias=True))
    assert answer.wire() == {key: value for key, value in answer.model_dump(by_alias=True).items() if value is not None}
    assert ("output" in answer.wire()) is (answer.output is not None)


def test_fields_a_newer_sender_adds_are_ignored() -> None:
    wire = {"action": "finish", "tenantId": "t", "executionId": "e", "taskToken": TOKEN, "since": "v2"}
    assert EngineRecord.model_validate(sqs_record(json.dumps(wire))).body == Finish.model_validate(wire)
    job = {"tenantId": "t", "executionId": "e", "id": "a", "operation": "merge", "queueUrl": "q", "timeoutSeconds": 9}
    assert WorkJob.model_validate(job).params() == {}


# ---- what is refused ----
GATE = {"action": "gate", "tenantId": "t", "executionId": "e", "jobId": "a", "taskToken": TOKEN}
ATTEMPT = {
    "job": {"tenantId": "t", "executionId": "e", "id": "a", "operation": "merge", "paramsJson": "{}"},
    "attempt": 1,
    "heartbeatSeconds": 300,
    "taskToken": TOKEN,
}
not_strings = st.one_of(st.none(), st.integers(), st.lists(st.just(TOKEN), max_size=2), st.just(""), st.just({}))


def without(wire: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in wire.items() if k != key}


def malformed(valid: dict[str, Any], required: list[str]) -> st.SearchStrategy[str]:
    """Bodies that are not that message: a required field missing or not a (non-empty) string, an action
    the engine does not know, JSON of another shape, text that is not JSON; the token in most of them."""
    unknown_actions = st.one_of(st.text(), st.just(TOKEN)).filter(lambda action: action not in ENGINE_ACTIONS)
    return st.one_of(
        st.sampled_from(required).map(lambda key: json.dumps(without(valid, key))),
        st.tuples(st.sampled_from(required), not_strings).map(lambda kv: json.dumps(valid | {kv[0]: kv[1]})),
        *([unknown_actions.map(lambda a: json.dumps(valid | {"action": a}))] if "action" in valid else []),
        json_values.filter(lambda value: not isinstance(value, dict)).map(json.dumps),
        st.text().map(lambda text: f"{text}{TOKEN}"),
        st.just(json.dumps(valid)[:-1]),
    )


@given(malformed(GATE, ["action", "tenantId", "executionId", "jobId", "taskToken"]))
def test_a_malformed_engine_message_is_refused_without_quoting_it(body: str) -> None:
    with pytest.raises(ValidationError) as refused:
        EngineRecord.model_validate(sqs_record(body))
    assert refused.value.title == "EngineRecord"  # Powertools fails that record alone (a poison pill)
    assert not quotes_the_token(str(refused.value))


@given(malformed(ATTEMPT, ["job", "taskToken"]))
def test_a_malformed_work_message_is_refused_without_quoting_it(body: str) -> None:
    with pytest.raises(ValidationError) as refused:
        WorkRecord.model_validate(sqs_record(body))
    assert refused.value.title == "WorkRecord"
    assert not quotes_the_token(str(refused.value))


@pytest.mark.parametrize(
    "change",
    [
        {"attempt": 0},
        {"attempt": "first"},
        {"heartbeatSeconds": -1},
        {"job": {"tenantId": "t", "executionId": "e", "operation": "merge"}},
        {"job": {**ATTEMPT["job"], "dependencies": {"a": 1}}},
        {"job": "a"},
    ],
)
def test_a_job_attempt_out_of_shape_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        WorkRecord.model_validate(sqs_record(json.dumps(ATTEMPT | change)))
    assert not quotes_the_token(str(refused.value))


@pytest.mark.parametrize("prediction", [None, 7, "", ["replicate:abc"]])
def test_a_prediction_check_names_a_prediction(prediction: Any) -> None:
    with pytest.raises(ValidationError):
        WorkRecord.model_validate(sqs_record(json.dumps({"prediction": prediction})))
