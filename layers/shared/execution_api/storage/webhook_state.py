"""The one codec of a webhook delivery's state: the `webhook` map that webhook delivery keeps on an execution
item, or on a job item for a per-job webhook (docs/webhooks.md), written when a delivery is claimed and
read into its record.

    webhook = {messageId, claimedAt, enqueuedAt, attempts, lastAttemptAt, lastStatus, lastError,
               deliveredAt, givenUpAt}
"""

from __future__ import annotations

from typing import Any

from execution_api.models.records import WebhookDelivery


def claimed_webhook_state(message_id: str, now: str) -> dict[str, Any]:
    """The map a claim writes: one message id, ever, and no attempt yet."""
    return {"M": {"messageId": {"S": message_id}, "claimedAt": {"S": now}, "attempts": {"N": "0"}}}


def webhook_delivery_from_item(item: dict[str, Any]) -> WebhookDelivery | None:
    """The delivery state of an execution or job item; None before a delivery was claimed."""
    state = item.get("webhook", {}).get("M")
    if state is None:
        return None
    return WebhookDelivery(
        message_id=state["messageId"]["S"],
        attempts=int(state["attempts"]["N"]) if "attempts" in state else 0,
        last_status=int(state["lastStatus"]["N"]) if "N" in state.get("lastStatus", {}) else None,
        delivered_at=state["deliveredAt"]["S"] if "deliveredAt" in state else None,
        given_up_at=state["givenUpAt"]["S"] if "givenUpAt" in state else None,
        enqueued="enqueuedAt" in state,
    )
