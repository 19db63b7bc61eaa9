"""The engine's and the workers' batch handlers, as Lambda calls them: each message reaches its Engine or Worker
method typed, and a message that does not parse fails its own record only, logging no task token."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from execution_api.core.observability import logger
from execution_api.engine.messages import JobAttempt
from local.lambda_events import sqs_record
from local.stack import FakeLambdaContext, LocalDeployment
from tests.unit.test_engine_messages import TOKEN, quotes_the_token

KEYS = {"tenantId": "local", "executionId": "V1StGXR8_Z5jdHi6B-myT"}
GATE = {"action": "gate", **KEYS, "jobId": "a", "taskToken": TOKEN}
ATTEMPT = {
    "job": {**KEYS, "id": "a", "operation": "merge", "paramsJson": '{"n": 1}', "dependencies": {"b": None}},
    "attempt": 2,
    "heartbeatSeconds": 60,
    "taskToken": TOKEN,
}
RESULT = {"outputs": [{"url": "https://o.invalid/a.mp4"}], "metadata": {"x": 1.5}}
MALFORMED_ENGINE = [
    "not json",
    json.dumps({**GATE, "action": "open"}),
    json.dumps({**GATE, "action": TOKEN}),
    json.dumps({k: v for k, v in GATE.items() if k != "jobId"}),
    json.dumps({**GATE, "tenantId": None}),
    json.dumps({**GATE, "taskToken": [TOKEN]}),
    json.dumps([GATE]),
    "[" * 100_000 + TOKEN,  # nested deeper than json.loads recurses
]
MALFORMED_WORK = [
    "",
    json.dumps({k: v for k, v in ATTEMPT.items() if k != "taskToken"}),
    json.dumps({**ATTEMPT, "job": {**KEYS, "operation": "merge"}}),
    json.dumps({**ATTEMPT, "attempt": 0}),
    json.dumps({"prediction": 7}),
    json.dumps(TOKEN),
]


class Recorder:
    """Stands in for the Engine or the Worker: records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args)) or "recorded"


def handler_module(aws: LocalDeployment, logical_id: str) -> ModuleType:
    return aws.function(logical_id).load_module(aws.template.layer_dirs())


def sqs_event(*bodies: str) -> dict[str, Any]:
    """An SQS batch as Lambda delivers it; message i has the id m<i>."""
    attributes = {
        "ApproximateReceiveCount": "1",
        "ApproximateFirstReceiveTimestamp": "1765100000000",
        "SenderId": "AROAEXAMPLE:states",
        "SentTimestamp": "1765100000000",
    }
    message = {"ReceiptHandle": "handle", "Attributes": attributes, "MD5OfBody": "0" * 32}
    queue = "arn:aws:sqs:us-east-1:123456789012:queue"
    return {"Records": [sqs_record({**message, "MessageId": f"m{i}", "Body": b}, queue) for i, b in enumerate(bodies)]}


def invoke(aws: LocalDeployment, logical_id: str, event: dict[str, Any]) -> Any:
    function = aws.function(logical_id)
    return handler_module(aws, logical_id).lambda_handler(event, FakeLambdaContext(function, "request"))


@pytest.fixture
def every_log() -> Iterator[list[logging.LogRecord]]:
    """Every record at DEBUG, as with POWERTOOLS_DEBUG and LogLevel=DEBUG: the root logger's, the functions'
    and Powertools' own package logger's (which does not propagate; the batch module logs there)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    listeners = [logging.getLogger(), logging.getLogger(logger.name), logging.getLogger("aws_lambda_powertools")]
    levels = [listener.level for listener in listeners]
    for listener in listeners:
        listener.setLevel(logging.DEBUG)
        listener.addHandler(handler)
    yield records
    for listener, level in zip(listeners, levels, strict=True):
        listener.removeHandler(handler)
        listener.setLevel(level)


def logged(records: list[logging.LogRecord]) -> str:
    return "\n".join(record.getMessage() + repr(record.__dict__) for record in records)


@pytest.fixture
def engine(aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(handler_module(aws, "EngineFunction"), "engine", lambda: recorder)
    return recorder


@pytest.fixture
def worker(aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(handler_module(aws, "WorkerFunction"), "worker", lambda: recorder)
    return recorder


@pytest.mark.parametrize(
    ("body", "call"),
    [
        (GATE, ("gate", ("local", KEYS["executionId"], "a", TOKEN))),
        (
            {**GATE, "action": "completed", "result": RESULT},
            ("completed", ("local", KEYS["executionId"], "a", RESULT, TOKEN)),
        ),
        (
            {**GATE, "action": "failed", "failure": {"Error": "Job.Failed", "Cause": "no"}},
            ("failed", ("local", KEYS["executionId"], "a", {"Error": "Job.Failed", "Cause": "no"}, TOKEN)),
        ),
        ({**KEYS, "action": "finish", "taskToken": TOKEN}, ("finish", ("local", KEYS["executionId"], TOKEN))),
    ],
    ids=["gate", "completed", "failed", "finish"],
)
def test_each_engine_message_calls_its_engine_method(
    aws: LocalDeployment, engine: Recorder, body: dict[str, Any], call: tuple[str, tuple[Any, ...]]
) -> None:
    answer = invoke(aws, "EngineFunction", sqs_event(json.dumps(body)))
    assert answer == {"batchItemFailures": []}
    assert engine.calls == [call]


def test_a_lone_surrogate_in_a_providers_text_reaches_the_engine(aws: LocalDeployment, engine: Recorder) -> None:
    # A provider's text cut inside a surrogate pair: json.loads reads it (as the engine did before its models).
    text = "the model said \ud83d"
    completed = {**GATE, "action": "completed", "result": {"outputs": [], "metadata": {"caption": text}}}
    failed = {**GATE, "action": "failed", "failure": {"Error": "Job.Failed", "Cause": text}}
    answer = invoke(aws, "EngineFunction", sqs_event(json.dumps(completed), json.dumps(failed)))
    assert answer == {"batchItemFailures": []}
    assert engine.calls == [
        ("completed", ("local", KEYS["executionId"], "a", completed["result"], TOKEN)),
        ("failed", ("local", KEYS["executionId"], "a", failed["failure"], TOKEN)),
    ]


def test_malformed_engine_messages_fail_alone_and_log_no_token(
    aws: LocalDeployment, engine: Recorder, every_log: list[logging.LogRecord]
) -> None:
    answer = invoke(aws, "EngineFunction", sqs_event(json.dumps(GATE), *MALFORMED_ENGINE, json.dumps(GATE)))
    failed = [f"m{i}" for i in range(1, len(MALFORMED_ENGINE) + 1)]
    assert answer == {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
    assert [name for name, _ in engine.calls] == ["gate", "gate"]  # the good ones before and after ran
    assert any("Record processing exception" in record.getMessage() for record in every_log)
    assert not quotes_the_token(logged(every_log))


def test_a_batch_of_only_malformed_messages_raises_without_the_token(aws: LocalDeployment, engine: Recorder) -> None:
    # Powertools raises when every record failed (the whole batch comes back); Lambda logs the error's text.
    with pytest.raises(BatchProcessingError) as raised:
        invoke(aws, "EngineFunction", sqs_event(*MALFORMED_ENGINE))
    assert len(raised.value.child_exceptions) == len(MALFORMED_ENGINE)
    assert not quotes_the_token(str(raised.value))
    assert engine.calls == []


def test_a_job_attempt_reaches_the_worker_typed(aws: LocalDeployment, worker: Recorder) -> None:
    answer = invoke(aws, "WorkerFunction", sqs_event(json.dumps(ATTEMPT)))
    assert answer == {"batchItemFailures": []}
    [(name, (message,))] = worker.calls
    assert name == "handle"
    assert message == JobAttempt.model_validate(ATTEMPT)
    assert (message.job.params(), message.job.dependencies, message.heartbeat_seconds) == ({"n": 1}, {"b": None}, 60)


def test_a_prediction_check_reaches_the_checker(
    aws: LocalDeployment, worker: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execution_api.providers import wiring

    checker = Recorder()
    monkeypatch.setattr(wiring, "prediction_checker", lambda: checker)
    answer = invoke(aws, "WorkerFunction", sqs_event('{"prediction": "replicate:abc"}'))
    assert answer == {"batchItemFailures": []}
    assert checker.calls == [("check", ("replicate:abc",))]
    assert worker.calls == []


def test_malformed_work_messages_fail_alone_and_log_no_token(
    aws: LocalDeployment, worker: Recorder, every_log: list[logging.LogRecord]
) -> None:
    answer = invoke(aws, "WorkerFunction", sqs_event(*MALFORMED_WORK, json.dumps(ATTEMPT)))
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in range(len(MALFORMED_WORK))]}
    assert [name for name, _ in worker.calls] == ["handle"]
    assert not quotes_the_token(logged(every_log))
