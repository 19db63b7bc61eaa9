"""Predictions in the executions table: one item per submitted prediction, found by its unguessable callback
`ref`. It keeps what settles the job later (provider, handle, the job's place) in clear, and what must stay
secret sealed with KMS: the task token and API key under the execution's context, for the workers;
Replicate's signing secret apart, under the execution's and its purpose's context, for the unauthenticated
callback route, which can open nothing else. While it is pending it sits in the sparse PendingPredictions
index, which the poller reads. The signed callbacks it received are remembered: the same one again is a replay.

States: submitted -> settling (one checker holds it, for a lease) -> settled. A duplicate or late callback,
a second poll or a redelivered message finds it settled, or cannot take the lease: applied once."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from execution_api.core.clock import iso_millis
from execution_api.storage.items import PREDICTION, prediction_note, prediction_ref
from execution_api.storage.keys import item_key, job_sk

PENDING = "pending"  # the only value of the index's partition key: few predictions are pending at once
PENDING_INDEX = "PendingPredictions"
SK = "PREDICTION"
REF_FORMAT = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32): anything else is no ref of ours


def new_ref() -> str:
    """The callback URL's secret part: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class PredictionRecord:
    ref: str = field(repr=False)  # the callback URL's secret part
    tenant_id: str
    execution_id: str
    job_id: str
    provider: str
    handle: dict[str, str]
    sealed: bytes
    state: str
    operation: str = ""
    signing_secret: bytes = b""  # sealed for REPLICATE_WEBHOOK; empty where the provider does not sign that way

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PredictionRecord:
        return cls(
            ref=item["pk"]["S"].removeprefix("PREDICTION#"),
            tenant_id=item["tenantId"]["S"],
            execution_id=item["executionId"]["S"],
            job_id=item["jobId"]["S"],
            provider=item["provider"]["S"],
            handle=json.loads(item["handle"]["S"]),
            sealed=bytes(item.get("sealed", {}).get("B", b"")),
            state=item["state"]["S"],
            operation=item.get("operation", {}).get("S", ""),
            signing_secret=bytes(item.get("signingSecret", {}).get("B", b"")),
        )


class PredictionStore:
    def __init__(self, client: Any, table_name: str, clock: Any = None) -> None:
        self._client = client
        self._table = table_name
        self._now = clock or (lambda: datetime.now(UTC))

    def add(self, record: PredictionRecord, check_in_seconds: int, expires_at: int) -> None:
        """Records a submitted prediction; the poller first looks at it after check_in_seconds."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"PREDICTION#{record.ref}"},
                "sk": {"S": SK},
                "tenantId": {"S": record.tenant_id},
                "executionId": {"S": record.execution_id},
                "jobId": {"S": record.job_id},
                "operation": {"S": record.operation},
                "provider": {"S": record.provider},
                "handle": {"S": json.dumps(record.handle)},
                "sealed": {"B": record.sealed},
                "state": {"S": "submitted"},
                "pendingPredictions": {"S": PENDING},
                "checkAfter": {"S": iso_millis(self._now() + timedelta(seconds=check_in_seconds))},
                "expiresAt": {"N": str(expires_at)},
                **({"signingSecret": {"B": record.signing_secret}} if record.signing_secret else {}),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def note_on_job(self, pk: str, job_id: str, provider: str, prediction_id: str, ref: str) -> None:
        """The job item says which prediction runs it: every cent of provider credit traceable to a job, and a
        retried attempt of the job finds the prediction still running instead of paying for a second one."""
        self._client.update_item(
            TableName=self._table,
            Key=item_key(pk, job_sk(job_id)),
            UpdateExpression=f"SET {PREDICTION} = :p",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":p": prediction_note(provider, prediction_id, ref)},
        )

    def pending_for_job(self, pk: str, job_id: str) -> PredictionRecord | None:
        """The job's prediction when one is noted on it and not yet settled (a retried attempt reuses it)."""
        item = self._client.get_item(
            TableName=self._table,
            Key=item_key(pk, job_sk(job_id)),
            ProjectionExpression=PREDICTION,
            ConsistentRead=True,
        ).get("Item")
        ref = prediction_ref(item) if item else None
        record = self.get(ref) if ref else None
        return record if record and record.state != "settled" else None

    def reseal(self, ref: str, sealed: bytes) -> bool:
        """A retried attempt's secrets (its new task token) on the pending prediction; False once settled."""
        return self._update(
            ref, "SET sealed = :sealed", "attribute_exists(pendingPredictions)", {":sealed": {"B": sealed}}
        )

    def get(self, ref: str) -> PredictionRecord | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": f"PREDICTION#{ref}"}, "sk": {"S": SK}}, ConsistentRead=True
        ).get("Item")
        return PredictionRecord.from_item(item) if item else None

    def first_callback(self, ref: str, message_id: str) -> bool:
        """Remembers a verified callback by its signed message id; False if it came before (a replay). Only
        verified callbacks are remembered, a handful per prediction, so the set stays small."""
        return self._update(
            ref,
            "ADD callbacksSeen :ids",
            "attribute_exists(pk) AND NOT contains(callbacksSeen, :id)",
            {":ids": {"SS": [message_id]}, ":id": {"S": message_id}},
        )

    def due(self, limit: int = 100) -> list[str]:
        """Refs of pending predictions whose next look is due, oldest first."""
        answer = self._client.query(
            TableName=self._table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pendingPredictions = :p AND checkAfter <= :now",
            ExpressionAttributeValues={":p": {"S": PENDING}, ":now": {"S": iso_millis(self._now())}},
            Limit=limit,
        )
        return [item["pk"]["S"].removeprefix("PREDICTION#") for item in answer.get("Items", [])]

    def check_later(self, ref: str, seconds: int) -> None:
        """Moves a pending prediction's next look (after a poll found it running, or a callback made it due)."""
        self._update(
            ref,
            "SET checkAfter = :at",
            "attribute_exists(pendingPredictions)",
            {":at": {"S": iso_millis(self._now() + timedelta(seconds=seconds))}},
        )

    def take(self, ref: str, lease_seconds: int, lease_id: str) -> bool:
        """The lease to settle it: held by one checker (lease_id); a lease a crashed checker left expires."""
        now = self._now()
        return self._update(
            ref,
            "SET #state = :settling, leaseUntil = :until, leaseId = :id",
            "#state = :submitted OR (#state = :settling AND leaseUntil < :now)",
            {
                ":settling": {"S": "settling"},
                ":submitted": {"S": "submitted"},
                ":until": {"S": iso_millis(now + timedelta(seconds=lease_seconds))},
                ":now": {"S": iso_millis(now)},
                ":id": {"S": lease_id},
            },
            names={"#state": "state"},
        )

    def renew(self, ref: str, lease_seconds: int, lease_id: str) -> bool:
        """Extends the lease while its holder still works (a long copy); False when it is no longer held."""
        return self._update(
            ref,
            "SET leaseUntil = :until",
            "#state = :settling AND leaseId = :id",
            {
                ":until": {"S": iso_millis(self._now() + timedelta(seconds=lease_seconds))},
                ":settling": {"S": "settling"},
                ":id": {"S": lease_id},
            },
            names={"#state": "state"},
        )

    def count_error(self, ref: str, retry_in_seconds: int, lease_id: str) -> int:
        """An unexpected error while checking: counted, the lease given back if this checker held it, looked
        at again later. The number of errors so far (0 when the record is settled meanwhile)."""
        values = {":one": {"N": "1"}, ":at": {"S": iso_millis(self._now() + timedelta(seconds=retry_in_seconds))}}
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"PREDICTION#{ref}"}, "sk": {"S": SK}},
                UpdateExpression="ADD checkErrors :one SET checkAfter = :at",
                ConditionExpression="attribute_exists(pendingPredictions)",
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return 0
            raise
        self._update(  # give the lease back only if it is this checker's
            ref,
            "SET #state = :submitted REMOVE leaseUntil, leaseId",
            "#state = :settling AND leaseId = :id",
            {":settling": {"S": "settling"}, ":submitted": {"S": "submitted"}, ":id": {"S": lease_id}},
            names={"#state": "state"},
        )
        return int(answer["Attributes"]["checkErrors"]["N"])

    def release(self, ref: str, retry_in_seconds: int) -> None:
        """Gives the lease back after a transient failure: the poller tries again later."""
        self._update(
            ref,
            "SET #state = :submitted, checkAfter = :at REMOVE leaseUntil, leaseId",
            "#state = :settling",
            {
                ":submitted": {"S": "submitted"},
                ":settling": {"S": "settling"},
                ":at": {"S": iso_millis(self._now() + timedelta(seconds=retry_in_seconds))},
            },
            names={"#state": "state"},
        )

    def settled(self, ref: str, outcome: str) -> None:
        """Final: out of the pending index. The sealed secrets stay until the item expires: a late callback is
        still verified (with Replicate's secret) before it is answered as already applied."""
        self._update(
            ref,
            "SET #state = :settled, outcome = :outcome REMOVE pendingPredictions, checkAfter, leaseUntil, leaseId",
            "attribute_exists(pk)",
            {":settled": {"S": "settled"}, ":outcome": {"S": outcome}},
            names={"#state": "state"},
        )

    def _update(
        self, ref: str, expression: str, condition: str, values: dict[str, Any], names: dict[str, str] | None = None
    ) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"PREDICTION#{ref}"}, "sk": {"S": SK}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
