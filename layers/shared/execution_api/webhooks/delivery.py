"""Webhook delivery (docs/webhooks.md): announce a finished execution to its webhook URL, at least once.

Two steps, decoupled from the engine through the executions table (docs/webhooks.md):
1. `enqueue`: when the execution item turns terminal (a DynamoDB stream record), claim the delivery on
   the item (one message id, ever) and put the first attempt on the delivery queue.
2. `attempt`: for each queue message, POST the signed payload; on anything but 2xx put the next
   attempt on the queue with its due time. SQS does the waiting (at most 15 minutes per hop, so
   longer waits hop again, carrying the due time), never a sleeping Lambda.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from execution_api.core.aws_clients import dynamodb_client, kms_client, sqs_client
from execution_api.core.aws_errors import call
from execution_api.core.clock import iso_millis
from execution_api.core.container import per_container
from execution_api.core.observability import logger, metrics
from execution_api.core.sealing import CredentialCipher
from execution_api.core.settings import WebhookSettings, load_settings
from execution_api.models.records import TERMINAL_STATES, Execution, Job, WebhookDelivery
from execution_api.models.status_view import client_view
from execution_api.storage.outputs import OutputLinks, output_links
from execution_api.storage.stream import ItemChange
from execution_api.storage.webhook_deliveries import WebhookDeliveryStore
from execution_api.webhooks.signing import delivery_headers
from execution_api.webhooks.transport import WebhookTransport

USER_AGENT = "ExecutionAPI-Webhooks/1.0"
MAX_QUEUE_DELAY_SECONDS = 900  # SQS DelaySeconds' maximum
JITTER = 0.2  # each wait is drawn from +-20% of the schedule's value
EARLY_TOLERANCE_SECONDS = 1.0  # a message this close to its due time is attempted at once


def message_id(execution_id: str, job_id: str | None = None) -> str:
    """The `webhook-id` of every attempt: derived from the execution (and the job, for a per-job webhook),
    so it can never differ. An execution id is 21 characters: `msg_<executionId>_<jobId>` is unambiguous."""
    return f"msg_{execution_id}" if job_id is None else f"msg_{execution_id}_{job_id}"


def webhook_payload(execution: Execution, present: Callable[[Any], Any] = lambda url: url) -> dict[str, Any]:
    """The original backend's payload, the same keys for every end: `{executionId, status, result, error, completedAt}`,
    plus `cancelled` (a cancel reads `failed`, docs/api.md) and, for a failure, `failedAt` (earlier form).
    `present` turns a stored output reference into the URL a receiver downloads (a presigned GET)."""
    ended_at = execution.completed_at or execution.updated_at
    status, error, cancelled = client_view(execution.status, execution.error)
    payload: dict[str, Any] = {"executionId": execution.id, "status": status, "result": None, "error": None}
    if status == "completed":
        result = execution.result if isinstance(execution.result, dict) else {}
        payload["result"] = {"url": present(result.get("url")), "status": result.get("status", "completed")}
    else:
        payload["error"] = error_text(error) if error is not None else "Execution failed"
    payload.update(completedAt=ended_at, cancelled=cancelled)
    if status == "failed":
        payload["failedAt"] = ended_at
    return payload


def job_webhook_payload(
    execution_id: str, job: Job, present: Callable[[Any], Any] = lambda result: result
) -> dict[str, Any]:
    """A per-job webhook's payload: `{executionId, jobId, operation, status, result, error, completedAt}`,
    plus `cancelled`, read as the status route reads the job; `present` presigns the result's outputs."""
    status, error, cancelled = client_view(job.status, job.error)
    return {
        "executionId": execution_id,
        "jobId": job.id,
        "operation": job.operation,
        "status": status,
        "result": present(job.result) if status == "completed" else None,
        "error": None if error is None else error_text(error),
        "completedAt": job.completed_at,
        "cancelled": cancelled,
    }


def error_text(error: Any) -> str:
    """An error in words: a string as it is, anything else as compact JSON (never Python's repr)."""
    return error if isinstance(error, str) else json.dumps(error, separators=(",", ":"), ensure_ascii=False)


def payload_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def retry_wait(failed_attempt: int, schedule: tuple[float, ...], rng: random.Random) -> float | None:
    """Seconds to wait after attempt number `failed_attempt` (1-based) failed, with jitter; None: give up."""
    if failed_attempt > len(schedule):
        return None
    base = schedule[failed_attempt - 1]
    return base * rng.uniform(1 - JITTER, 1 + JITTER)


def is_terminal_transition(change: ItemChange | None) -> bool:
    """The same test as the template's FilterCriteria, for runtimes that do not filter: an execution
    item with a webhook URL, or a job item that asked for its own webhook (`jobWebhook`), that has just
    become terminal (our own later updates never match)."""
    return (
        change is not None
        and change.wants_webhook
        and change.status in TERMINAL_STATES
        and change.old_status not in TERMINAL_STATES
    )


class DeliveryTask(BaseModel):
    """One queue message: which attempt to make, and not before when (epoch seconds)."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    tenant_id: str = Field(alias="tenantId")
    execution_id: str = Field(alias="executionId")
    message_id: str = Field(alias="messageId")
    attempt: int
    due_at: float = Field(alias="dueAt")
    job_id: str | None = Field(None, alias="jobId")  # a per-job webhook's job

    def to_json(self) -> str:
        return json.dumps(self.model_dump(by_alias=True, exclude_none=True))


class DeliveryQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send(self, task: DeliveryTask, delay_seconds: int) -> None:
        call(
            self._client,
            "send_message",
            QueueUrl=self._url,
            MessageBody=task.to_json(),
            DelaySeconds=max(0, min(MAX_QUEUE_DELAY_SECONDS, delay_seconds)),
        )


class Outcome(StrEnum):
    QUEUED = "queued"  # enqueue: the first attempt is on the queue
    ALREADY_QUEUED = "already_queued"  # enqueue: a redelivered record; nothing new was sent
    NOT_DUE = "not_due"  # attempt: hopped back onto the queue to wait longer
    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry_scheduled"
    GIVEN_UP = "given_up"
    NOTHING_TO_DO = "nothing_to_do"  # the execution is gone, or its delivery already ended


class WebhookDeliveries:
    def __init__(
        self,
        store: WebhookDeliveryStore,
        queue: DeliveryQueue,
        cipher: CredentialCipher | None,
        transport: WebhookTransport,
        schedule: tuple[float, ...],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        links: OutputLinks | None = None,
    ) -> None:
        self._links = links
        self._store = store
        self._queue = queue
        self._cipher = cipher
        self._transport = transport
        self._schedule = schedule
        self._clock = clock
        self._rng = rng or random.SystemRandom()

    @property
    def max_attempts(self) -> int:
        return 1 + len(self._schedule)

    def enqueue(self, tenant_id: str, execution_id: str, job_id: str | None = None) -> Outcome:
        """Queue the first attempt, once. A crash between the claim and the send is repaired by the
        stream's retry: the claim is found without `enqueuedAt` and the same message id is sent.
        With a job id, the job's own webhook, its state kept on the job item."""
        now = self._clock()
        delivery = self._store.claim(tenant_id, execution_id, message_id(execution_id, job_id), iso_millis(now), job_id)
        if delivery is None:
            return Outcome.NOTHING_TO_DO
        if delivery.enqueued:
            return Outcome.ALREADY_QUEUED
        task = DeliveryTask(
            tenantId=tenant_id,
            executionId=execution_id,
            messageId=delivery.message_id,
            attempt=1,
            dueAt=now.timestamp(),
            jobId=job_id,
        )
        self._queue.send(task, 0)
        self._store.mark_enqueued(tenant_id, execution_id, iso_millis(now), job_id)
        return Outcome.QUEUED

    def attempt(self, task: DeliveryTask) -> Outcome:
        now = self._clock()
        wait = task.due_at - now.timestamp()
        if wait > EARLY_TOLERANCE_SECONDS:
            self._queue.send(task, math.ceil(wait))  # the next hop of a wait longer than SQS's 15 minutes
            return Outcome.NOT_DUE
        execution = self._store.get(task.tenant_id, task.execution_id)
        target = self._target(task, execution)
        if execution is None or execution.webhook_url is None or target is None:
            return Outcome.NOTHING_TO_DO
        delivery, payload = target
        if delivery.delivered_at or delivery.given_up_at:
            return Outcome.NOTHING_TO_DO  # a duplicate message of a delivery that has ended

        body = payload_body(payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **delivery_headers(task.message_id, int(now.timestamp()), body, self._secret(execution)),
        }
        result = self._transport.post(execution.webhook_url, body, headers)
        gone = result.status == 410
        wait_next = None if (result.delivered or gone) else retry_wait(task.attempt, self._schedule, self._rng)
        given_up = not result.delivered and wait_next is None
        self._store.record_attempt(
            task.tenant_id,
            task.execution_id,
            attempt=task.attempt,
            status=result.status,
            error=result.error,
            now=iso_millis(self._clock()),
            delivered=result.delivered,
            given_up=given_up,
            job_id=task.job_id,
        )
        log = {
            "executionId": task.execution_id,
            "jobId": task.job_id,
            "webhookId": task.message_id,
            "attempt": task.attempt,
            "host": urlsplit(execution.webhook_url).hostname,
            "answerStatus": result.status,
            "problem": result.error,
        }
        if result.delivered:
            metrics.add_metric(name="WebhookDelivered", unit=MetricUnit.Count, value=1)
            logger.info("webhook delivered", extra=log)
            return Outcome.DELIVERED
        metrics.add_metric(name="WebhookAttemptFailed", unit=MetricUnit.Count, value=1)
        if wait_next is None:
            metrics.add_metric(name="WebhookDeliveryGivenUp", unit=MetricUnit.Count, value=1)
            logger.warning("webhook delivery given up" + (" (410 Gone)" if gone else ""), extra=log)
            return Outcome.GIVEN_UP
        next_task = task.model_copy(
            update={"attempt": task.attempt + 1, "due_at": self._clock().timestamp() + wait_next}
        )
        self._queue.send(next_task, math.ceil(wait_next))
        logger.info("webhook attempt failed; retry scheduled", extra={**log, "retryInSeconds": round(wait_next)})
        return Outcome.RETRY_SCHEDULED

    def _target(self, task: DeliveryTask, execution: Execution | None) -> tuple[WebhookDelivery, dict[str, Any]] | None:
        """The delivery's state and its payload: the execution's, or its job's; None when there is none."""
        if execution is None:
            return None
        if task.job_id is None:
            delivery = execution.webhook_delivery
            present = partial(self._present, tenant_id=task.tenant_id)
            return (delivery, webhook_payload(execution, present)) if delivery is not None else None
        job = self._store.get_job(task.tenant_id, task.execution_id, task.job_id)
        if job is None or job.webhook_delivery is None:
            return None
        present_job = partial(self._present_job_result, tenant_id=task.tenant_id)
        return job.webhook_delivery, job_webhook_payload(execution.id, job, present_job)

    def _present(self, url: Any, tenant_id: str) -> Any:
        """An output reference as a presigned GET, signed per attempt (a retry hours later gets a fresh one)."""
        return self._links.url(url, tenant_id) if self._links is not None and isinstance(url, str) else url

    def _present_job_result(self, result: Any, tenant_id: str) -> Any:
        return self._links.job_result(result, tenant_id) if self._links is not None else result

    def _secret(self, execution: Execution) -> str | None:
        if execution.webhook_secret_ciphertext is None:
            return None
        if self._cipher is None:
            raise RuntimeError("CREDENTIAL_KEY_ID is not configured")
        return self._cipher.unseal(execution.id, execution.webhook_secret_ciphertext).get_secret_value()


@per_container
def webhook_deliveries() -> WebhookDeliveries:
    """Delivery wired to DynamoDB, SQS, KMS and the network, once per container."""
    settings = load_settings(WebhookSettings)
    cipher = CredentialCipher(kms_client(), settings.credential_key_id) if settings.credential_key_id else None
    return WebhookDeliveries(
        store=WebhookDeliveryStore(dynamodb_client(), settings.executions_table_name),
        queue=DeliveryQueue(sqs_client(), settings.webhook_queue_url),
        cipher=cipher,
        transport=WebhookTransport(
            allow_insecure=settings.allow_insecure_webhooks, timeout_seconds=settings.webhook_timeout_seconds
        ),
        schedule=settings.webhook_retry_schedule,
        links=output_links() if settings.outputs_bucket_name else None,
    )
