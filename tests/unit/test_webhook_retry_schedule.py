"""The retry schedule and the waits in SQS: in-memory fakes for the table, the queue and the network."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from execution_api.core.settings import WebhookSettings
from execution_api.models.records import Execution, WebhookDelivery
from execution_api.webhooks.delivery import (
    MAX_QUEUE_DELAY_SECONDS,
    DeliveryTask,
    Outcome,
    WebhookDeliveries,
    retry_wait,
)
from execution_api.webhooks.messages import DeliveryRecord
from execution_api.webhooks.transport import PostResult
from tests.unit.test_engine_messages import sqs_record

QUEUED = {"EXECUTIONS_TABLE_NAME": "t", "WEBHOOK_QUEUE_URL": "https://sqs.example/q"}
DEFAULT = WebhookSettings.model_validate(QUEUED).webhook_retry_schedule
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_the_default_schedule_is_the_specified_one() -> None:
    assert DEFAULT == (5, 300, 1800, 7200, 18000, 36000, 36000)  # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h


def test_the_schedule_is_configurable() -> None:
    settings = WebhookSettings.model_validate({**QUEUED, "WEBHOOK_RETRY_SCHEDULE": "1, 2,3"})
    assert settings.webhook_retry_schedule == (1, 2, 3)
    assert WebhookSettings.model_validate({**QUEUED, "WEBHOOK_RETRY_SCHEDULE": ""}).webhook_retry_schedule == ()
    with pytest.raises(ValueError, match="negative"):
        WebhookSettings.model_validate({**QUEUED, "WEBHOOK_RETRY_SCHEDULE": "5,-1"})


@pytest.mark.parametrize("seed", range(50))
def test_waits_have_jitter_within_a_fifth_and_the_first_retry_comes_within_10_s(seed: int) -> None:
    rng = random.Random(seed)
    waits = [retry_wait(attempt, DEFAULT, rng) for attempt in range(1, len(DEFAULT) + 1)]
    for wait, base in zip(waits, DEFAULT, strict=True):
        assert wait is not None
        assert base * 0.8 <= wait <= base * 1.2
    assert waits[0] is not None
    assert waits[0] < 10
    assert retry_wait(len(DEFAULT) + 1, DEFAULT, rng) is None  # eight attempts in all, then given up


def test_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    assert len({round(retry_wait(2, DEFAULT, rng) or 0) for _ in range(20)}) > 5


@dataclass
class FakeQueue:
    sent: list[tuple[DeliveryTask, int]] = field(default_factory=list)

    def send(self, task: DeliveryTask, delay_seconds: int) -> None:
        self.sent.append((task, max(0, min(MAX_QUEUE_DELAY_SECONDS, delay_seconds))))


@dataclass
class FakeDeliveryStore:
    execution: Execution
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def get(self, tenant_id: str, execution_id: str) -> Execution:
        return self.execution

    def record_attempt(self, tenant_id: str, execution_id: str, **fields: Any) -> None:
        self.attempts.append(fields)


@dataclass
class FakeTransport:
    answers: list[PostResult]
    posts: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        self.posts.append((url, body, headers))
        return self.answers.pop(0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def deliveries(*answers: PostResult) -> tuple[WebhookDeliveries, FakeQueue, FakeDeliveryStore, FakeTransport, Clock]:
    execution = Execution(
        id="V1StGXR8_Z5jdHi6B-myT",
        tenant_id="acme",
        status="completed",
        created_at="2026-11-26T06:00:00.000Z",
        updated_at="2026-11-26T07:00:00.000Z",
        completed_at="2026-11-26T07:00:00.000Z",
        expires_at=0,
        root_job_ids=(),
        total_jobs=0,
        webhook_url="https://hooks.example.com/in",
        result={"url": "https://media.invalid/a.mp4", "status": "completed"},
        webhook_delivery=WebhookDelivery(message_id="msg_V1StGXR8_Z5jdHi6B-myT", enqueued=True),
    )
    queue, store, transport, clock = FakeQueue(), FakeDeliveryStore(execution), FakeTransport(list(answers)), Clock()
    service = WebhookDeliveries(
        store=store,  # type: ignore[arg-type]
        queue=queue,  # type: ignore[arg-type]
        cipher=None,
        transport=transport,  # type: ignore[arg-type]
        schedule=DEFAULT,
        clock=clock,
        rng=random.Random(7),
    )
    return service, queue, store, transport, clock


def task_at(attempt: int, due_at: float) -> DeliveryTask:
    return DeliveryTask(
        tenantId="acme",
        executionId="V1StGXR8_Z5jdHi6B-myT",
        messageId="msg_V1StGXR8_Z5jdHi6B-myT",
        attempt=attempt,
        dueAt=due_at,
    )


def first_task() -> DeliveryTask:
    return task_at(1, NOW.timestamp())


def test_a_503_schedules_the_next_attempt_about_5_s_later_through_sqs() -> None:
    service, queue, store, _, _ = deliveries(PostResult(503))
    assert service.attempt(first_task()) is Outcome.RETRY_SCHEDULED
    [(task, delay)] = queue.sent
    assert task.attempt == 2
    assert task.message_id == "msg_V1StGXR8_Z5jdHi6B-myT"
    assert 4 <= delay <= 6
    assert 4 <= task.due_at - NOW.timestamp() <= 6
    assert store.attempts[0]["status"] == 503
    assert store.attempts[0]["given_up"] is False


def test_a_long_wait_hops_through_sqs_15_minutes_at_a_time() -> None:
    # Given attempt 4, due in two hours
    service, queue, _, transport, clock = deliveries(PostResult(200))
    task = task_at(4, NOW.timestamp() + 7200)
    # When its message arrives early, again and again
    hops = 0
    while True:
        outcome = service.attempt(task)
        if outcome is not Outcome.NOT_DUE:
            break
        [(task, delay)] = queue.sent[-1:]
        assert delay <= MAX_QUEUE_DELAY_SECONDS
        clock.now += timedelta(seconds=delay)
        hops += 1
    # Then it waited in SQS in hops of at most 15 minutes, and the attempt came on time
    assert hops == 8
    assert outcome is Outcome.DELIVERED
    assert len(transport.posts) == 1
    assert clock.now.timestamp() >= NOW.timestamp() + 7200 - 1


def test_410_gives_up_without_a_retry() -> None:
    service, queue, store, _, _ = deliveries(PostResult(410))
    assert service.attempt(first_task()) is Outcome.GIVEN_UP
    assert queue.sent == []
    assert store.attempts[0]["given_up"] is True


def test_the_last_attempt_gives_up() -> None:
    service, queue, store, _, _ = deliveries(PostResult(None, "timeout: no complete answer within 10 s"))
    last = task_at(8, NOW.timestamp())
    assert service.max_attempts == 8
    assert service.attempt(last) is Outcome.GIVEN_UP
    assert queue.sent == []
    assert store.attempts[0] == {
        "attempt": 8,
        "status": None,
        "error": "timeout: no complete answer within 10 s",
        "now": "2026-11-26T07:00:00.000Z",
        "delivered": False,
        "given_up": True,
        "job_id": None,  # the execution's webhook, not a job's
    }


@pytest.mark.parametrize("status", [301, 302, 400, 401, 404, 429, 500, 502])
def test_anything_but_2xx_and_410_is_retried(status: int) -> None:
    service, queue, _, _, _ = deliveries(PostResult(status))
    assert service.attempt(first_task()) is Outcome.RETRY_SCHEDULED
    assert len(queue.sent) == 1


def test_each_attempt_is_signed_anew_with_its_own_timestamp_and_the_same_id() -> None:
    service, _, _, transport, clock = deliveries(PostResult(500), PostResult(200))
    service.attempt(first_task())
    clock.now += timedelta(seconds=5)
    service.attempt(task_at(2, clock.now.timestamp()))
    (_, body1, headers1), (_, body2, headers2) = transport.posts
    assert body1 == body2
    assert headers1["webhook-id"] == headers2["webhook-id"]
    assert int(headers2["webhook-timestamp"]) - int(headers1["webhook-timestamp"]) == 5


# ---- the queue message ----
def test_the_queue_message_is_written_as_before() -> None:
    # A message in flight across a deploy is read by the other version: the text is what from_json read.
    assert task_at(2, 1765100000.5).to_json() == (
        '{"tenantId": "acme", "executionId": "V1StGXR8_Z5jdHi6B-myT", "messageId": "msg_V1StGXR8_Z5jdHi6B-myT", '
        '"attempt": 2, "dueAt": 1765100000.5}'
    )
    job_task = task_at(1, 1765100000).model_copy(update={"job_id": "a"})
    assert json.loads(job_task.to_json()) == {**json.loads(task_at(1, 1765100000).to_json()), "jobId": "a"}


@given(
    st.builds(
        DeliveryTask,
        tenantId=st.text(),
        executionId=st.text(),
        messageId=st.text(),
        attempt=st.integers(min_value=1, max_value=100),
        dueAt=st.floats(allow_nan=False, allow_infinity=False),
        jobId=st.none() | st.text(),
    )
)
def test_every_queue_message_round_trips(task: DeliveryTask) -> None:
    assert DeliveryRecord.model_validate(sqs_record(task.to_json())).body == task


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"tenantId": "acme", "executionId": "e", "attempt": 1, "dueAt": 1}',  # no messageId
        '{"tenantId": "acme", "executionId": "e", "messageId": "m", "attempt": "first", "dueAt": 1}',
        '{"tenantId": "acme", "executionId": "e", "messageId": "m", "attempt": 1, "dueAt": "soon"}',
        '{"tenantId": "acme", "executionId": "e", "messageId": "m", "attempt": 1, "dueAt": 1, "jobId": 7}',
    ],
)
def test_a_malformed_queue_message_is_refused(body: str) -> None:
    with pytest.raises(ValidationError) as refused:
        DeliveryRecord.model_validate(sqs_record(body))
    assert refused.value.title == "DeliveryRecord"  # Powertools fails that record alone
