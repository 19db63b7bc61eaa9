"""Webhook delivery through the template's two functions against moto: stream records read from moto's own
DynamoDB stream, queue messages received from moto's SQS, both shaped as Lambda hands them to a function."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.stack import FakeLambdaContext, LocalDeployment
from local.template import ACCOUNT_ID, REGION
from tests.support import Api, plan

ENQUEUE = "WebhookEnqueueFunction"
SENDER = "WebhookSenderFunction"


class Delivery:
    """Drives an execution to its end and the webhook functions over it, as Lambda's event sources would."""

    def __init__(self, stack: LocalDeployment, api: Api) -> None:
        self.stack = stack
        self.api = api
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.table = stack.names["ExecutionsTable"]
        self.queue_url = stack.names["WebhookDeliveryQueue"]
        self.stream_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{self.table}/stream/2026-11-26T00:00:00.000"
        self._records: list[dict[str, Any]] = []
        self._sequence = 0

    def submit(self, url: str, secret: str | None = None) -> str:
        options: dict[str, Any] = {"webhookUrl": url}
        if secret is not None:
            options["webhookSecret"] = secret
        answer = self.api.submit({**plan({"id": "job1"}), "options": options})
        assert answer.status == 202, answer.body
        execution_id: str = answer.body["id"]
        self.record_change(None, self.item(execution_id))
        return execution_id

    def key(self, execution_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"TENANT#local#EXECUTION#{execution_id}"}, "sk": {"S": "EXECUTION"}}

    def end(self, execution_id: str, status: str, **fields: Any) -> None:
        """What the engine does when an execution ends (its attribute names as of today's repository)."""
        self.change(execution_id, status, completedAt="2026-11-26T07:00:00.000Z", **fields)

    def change(self, execution_id: str, status: str, completedAt: str | None = None, **fields: Any) -> None:
        old = self.item(execution_id)
        names = {"#s": "status", "#u": "updatedAt", "#c": "completedAt"}
        values: dict[str, Any] = {
            ":s": {"S": status},
            ":t": {"S": "2026-11-26T07:00:00.000Z"},
        }
        assignments = ["#s = :s", "#u = :t"]
        if completedAt is None:
            del names["#c"]
        else:
            assignments.append("#c = :t")
        for name, value in fields.items():
            names[f"#{name}"] = name
            values[f":{name}"] = {"S": json.dumps(value)}
            assignments.append(f"#{name} = :{name}")
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self.key(execution_id),
            UpdateExpression="SET " + ", ".join(assignments),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        self.record_change(old, self.item(execution_id))

    def item(self, execution_id: str) -> dict[str, Any]:
        item: dict[str, Any] = self.dynamodb.get_item(TableName=self.table, Key=self.key(execution_id))["Item"]
        return item

    def stream_records(self) -> list[dict[str, Any]]:
        """The stream records of the changes made through this helper since the last call.

        Built here in the shape Lambda hands a DynamoDB stream consumer (moto's DynamoDB Streams API
        does not answer the botocore in use), with both images as the table's NEW_AND_OLD_IMAGES view."""
        records, self._records = self._records, []
        return records

    def record_change(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        self._sequence += 1
        old, new = (_as_event_image(old) if old is not None else None), _as_event_image(new)
        change: dict[str, Any] = {
            "ApproximateCreationDateTime": 1795590000,
            "Keys": {"pk": new["pk"], "sk": new["sk"]},
            "NewImage": new,
            "SequenceNumber": f"{self._sequence:021d}",
            "SizeBytes": len(json.dumps(new, default=str)),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old is not None:
            change["OldImage"] = old
        self._records.append(
            {
                "eventID": f"event-{self._sequence}",
                "eventName": "MODIFY" if old is not None else "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": change,
                "eventSourceARN": self.stream_arn,
            }
        )

    def run_enqueue(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._invoke(ENQUEUE, {"Records": records})

    def queued(self) -> list[dict[str, Any]]:
        """Messages now visible on the delivery queue, as Lambda puts them into an SQS event (deleted, as
        Lambda deletes a batch's successful messages)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        records = []
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": message.get("MessageAttributes", {}),
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:WebhookDeliveryQueue",
                    "awsRegion": REGION,
                }
            )
        return records

    def run_sender(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._invoke(SENDER, {"Records": records})

    def deliver_until_idle(self, rounds: int = 10) -> int:
        """Run the sender over whatever the queue holds until it is empty; returns the messages handled."""
        handled = 0
        for _ in range(rounds):
            records = self.queued()
            if not records:
                return handled
            assert self.run_sender(records) == {"batchItemFailures": []}
            handled += len(records)
        return handled

    def _invoke(self, function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        function = self.stack.function(function_id)
        result: dict[str, Any] = self.stack.handler(function)(event, FakeLambdaContext(function, "test-request"))
        return result


def _as_event_image(item: dict[str, Any]) -> dict[str, Any]:
    """An item as it appears in a stream event: JSON, so binary values are base64 text."""
    return {
        name: {"B": base64.b64encode(value["B"]).decode("ascii")} if "B" in value else value
        for name, value in item.items()
    }


@pytest.fixture
def delivery(aws: LocalDeployment, api: Api, configure: Any) -> Iterator[Delivery]:
    configure("ALLOW_INSECURE_WEBHOOKS", "true")
    configure("WEBHOOK_RETRY_SCHEDULE", "0,0,0")  # no waiting in tests; the schedule has tests of its own
    return Delivery(aws, api)
