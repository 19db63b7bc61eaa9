"""The `webhook` map that webhook delivery keeps on an execution item, or on a job item for a per-job
webhook (docs/webhooks.md), read into its record."""

from __future__ import annotations

from typing import Any

from execution_api.models.records import WebhookDelivery


def webhook_delivery_from_item(item: dict[str, Any]) -> WebhookDelivery | None:
    """The `webhook` map that webhook delivery keeps on the execution item (docs/webhooks.md)."""
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
