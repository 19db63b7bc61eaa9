"""The events Lambda hands a function from its sources, as the local event sources build them: SQS records,
stream records as JSON, scheduled events, Step Functions status changes; and which items a batch answer
(ReportBatchItemFailures) asks to have again."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from local.template import REGION


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """A stream record as Lambda receives it: JSON (boto3 returns datetimes and bytes)."""
    decoded: dict[str, Any] = json.loads(json.dumps(record, default=_encode))
    return decoded


def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if hasattr(value, "timestamp"):
        return int(value.timestamp())
    raise TypeError(type(value))


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge scheduled rule sends its target."""
    event = {"version": "0", "id": str(uuid.uuid4()), "source": "aws.events", "detail-type": "Scheduled Event"}
    return {**event, "region": REGION, "detail": {}}


def status_change_event(run: dict[str, Any], described: dict[str, Any], state_machine_arn: str) -> dict[str, Any]:
    """EventBridge's "Step Functions Execution Status Change" for a run (from list_executions and
    describe_execution), which the local backends do not emit."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "region": REGION,
        "detail": {
            "executionArn": run["executionArn"],
            "stateMachineArn": state_machine_arn,
            "name": run["name"],
            "status": run["status"],
            "input": described.get("input"),
            "error": described.get("error"),
            "cause": described.get("cause"),
        },
    }


def failed_ids(answer: Any, all_ids: list[str]) -> set[str]:
    """Which items to retry: those in batchItemFailures, or all when the invocation itself failed."""
    if not isinstance(answer, dict):
        return set(all_ids)
    return {failure["itemIdentifier"] for failure in answer.get("batchItemFailures", [])}
