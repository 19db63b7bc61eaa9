"""The conditional updates of a webhook delivery's state, the `webhook` map kept on the execution item (or,
for a per-job webhook, on the job item). Keys come from storage.keys, the items' records from storage.items,
the map's fields and each update's assignments from storage.webhook_state; this module sends the updates
with their conditions (docs/webhooks.md explains the claim).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from execution_api.core.aws_errors import call, is_condition_failure
from execution_api.models.records import Execution, Job, WebhookDelivery
from execution_api.storage.items import execution_from_item, job_from_item
from execution_api.storage.keys import EXECUTION_SK, execution_pk, item_key, job_sk
from execution_api.storage.webhook_state import (
    ABSENT,
    EXISTS,
    NAMES,
    StateUpdate,
    attempt_update,
    claim_update,
    enqueued_update,
    webhook_delivery_from_item,
)


class WebhookDeliveryStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _item_key(self, tenant_id: str, execution_id: str, job_id: str | None) -> dict[str, Any]:
        """The execution item, or with a job id that job's item: where a delivery's state is kept."""
        sk = EXECUTION_SK if job_id is None else job_sk(job_id)
        return item_key(execution_pk(tenant_id, execution_id), sk)

    def get(self, tenant_id: str, execution_id: str) -> Execution | None:
        response = call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=self._item_key(tenant_id, execution_id, None),
            ConsistentRead=True,
        )
        return execution_from_item(response["Item"]) if "Item" in response else None

    def get_job(self, tenant_id: str, execution_id: str, job_id: str) -> Job | None:
        """A job, without its params (a job webhook never carries them)."""
        response = call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=self._item_key(tenant_id, execution_id, job_id),
            ConsistentRead=True,
        )
        return job_from_item(response["Item"], with_params=False) if "Item" in response else None

    def claim(
        self, tenant_id: str, execution_id: str, message_id: str, now: str, job_id: str | None = None
    ) -> WebhookDelivery | None:
        """Start the delivery once: writes the message id only where none is. Returns the state that is
        stored afterwards (this claim's, or an earlier one's), or None when the execution item is gone."""
        try:
            response = self._update(
                tenant_id,
                execution_id,
                job_id,
                claim_update(message_id, now),
                f"attribute_exists(pk) AND {ABSENT}",
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return webhook_delivery_from_item(response["Attributes"])
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            existing = error.response.get("Item")
            return webhook_delivery_from_item(existing) if existing else None

    def mark_enqueued(self, tenant_id: str, execution_id: str, now: str, job_id: str | None = None) -> None:
        """The first attempt's message is on the queue: a redelivered stream record sends no other."""
        self._update(tenant_id, execution_id, job_id, enqueued_update(now), EXISTS)

    def record_attempt(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        attempt: int,
        status: int | None,
        error: str | None,
        now: str,
        delivered: bool,
        given_up: bool,
        job_id: str | None = None,
    ) -> None:
        """What attempt number `attempt` came to (storage.webhook_state says how it is stored)."""
        update = attempt_update(attempt, status, error, now, delivered, given_up)
        self._update(tenant_id, execution_id, job_id, update, EXISTS)

    def _update(
        self,
        tenant_id: str,
        execution_id: str,
        job_id: str | None,
        update: StateUpdate,
        condition: str,
        **returns: str,
    ) -> Any:
        """A conditional update of the execution's (or the job's) item's `webhook` map (#w)."""
        return call(
            self._client,
            "update_item",
            TableName=self._table,
            Key=self._item_key(tenant_id, execution_id, job_id),
            UpdateExpression=update.expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=NAMES,
            ExpressionAttributeValues=update.values,
            **returns,
        )
