"""The executions table's stream records, read once for every consumer (the starter, the webhook enqueuer):
which execution or job item changed, and its status before and after. The images are DynamoDB's low-level
JSON, as in a stream record's `dynamodb` (Powertools' `DynamoDBRecord.raw_event`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from execution_api.storage.keys import EXECUTION_SK, execution_of, job_id_of


@dataclass(frozen=True)
class ItemChange:
    """One stream record of an execution's item."""

    event: str  # INSERT, MODIFY or REMOVE
    tenant_id: str
    execution_id: str
    job_id: str | None  # None: the execution item
    status: str | None  # after the change (None when removed)
    old_status: str | None  # before it (None when inserted)
    wants_webhook: bool  # the execution has a webhook URL, or the job asked for its own (jobWebhook)


def item_change(record: Mapping[str, Any]) -> ItemChange | None:
    """The change a stream record carries; None for an item outside any execution (a submission marker,
    a prediction, a provider key)."""
    change = record.get("dynamodb") or {}
    new, old = change.get("NewImage") or {}, change.get("OldImage") or {}
    keys = change.get("Keys") or new or old  # every image holds the keys too
    sk = _text(keys, "sk") or ""
    job_id = job_id_of(sk)
    try:
        ids = execution_of(_text(keys, "pk") or "")
    except ValueError:
        return None
    if sk != EXECUTION_SK and job_id is None:
        return None
    wants_webhook = bool(_text(new, "webhookUrl")) if job_id is None else new.get("jobWebhook") == {"BOOL": True}
    return ItemChange(
        event=str(record.get("eventName") or ""),
        tenant_id=ids[0],
        execution_id=ids[1],
        job_id=job_id,
        status=_text(new, "status"),
        old_status=_text(old, "status"),
        wants_webhook=wants_webhook,
    )


def _text(image: Mapping[str, Any], name: str) -> str | None:
    value = image.get(name)
    return value.get("S") if isinstance(value, Mapping) else None
