"""The one codec of a webhook delivery's state: the `webhook` map that webhook delivery keeps on an execution
item, or on a job item for a per-job webhook (docs/webhooks.md). Every field name of the map is here: the map
a claim writes, the assignments of each later update, and the map read into its record.

    webhook = {messageId, claimedAt, enqueuedAt, attempts, lastAttemptAt, lastStatus, lastError,
               deliveredAt, givenUpAt}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from execution_api.models.records import WebhookDelivery

# The updates name the map `#w` (ExpressionAttributeNames) and their values by these placeholders.
NAMES = {"#w": "webhook"}
EXISTS = "attribute_exists(#w)"
ABSENT = "attribute_not_exists(#w)"


@dataclass(frozen=True)
class StateUpdate:
    """An UpdateExpression on the `webhook` map and its ExpressionAttributeValues."""

    expression: str
    values: dict[str, Any]


def claimed_webhook_state(message_id: str, now: str) -> dict[str, Any]:
    """The map a claim writes: one message id, ever, and no attempt yet."""
    return {"M": {"messageId": {"S": message_id}, "claimedAt": {"S": now}, "attempts": {"N": "0"}}}


def claim_update(message_id: str, now: str) -> StateUpdate:
    return StateUpdate("SET #w = :w", {":w": claimed_webhook_state(message_id, now)})


def enqueued_update(now: str) -> StateUpdate:
    """The first attempt's message is on the queue (kept at its first moment: a redelivery changes nothing)."""
    return StateUpdate("SET #w.enqueuedAt = if_not_exists(#w.enqueuedAt, :now)", {":now": {"S": now}})


def attempt_update(
    attempt: int, status: int | None, error: str | None, now: str, delivered: bool, given_up: bool
) -> StateUpdate:
    """What attempt number `attempt` came to. Setting (not adding) the count keeps a redelivered message from
    counting one attempt twice; no status (no answer) and no error are stored as NULL."""
    assignments = ["#w.attempts = :attempt", "#w.lastAttemptAt = :now"]
    assignments += ["#w.lastStatus = :status", "#w.lastError = :error"]
    if delivered:
        assignments.append("#w.deliveredAt = :now")
    if given_up:
        assignments.append("#w.givenUpAt = :now")
    values = {
        ":attempt": {"N": str(attempt)},
        ":now": {"S": now},
        ":status": {"N": str(status)} if status is not None else {"NULL": True},
        ":error": {"S": error} if error is not None else {"NULL": True},
    }
    return StateUpdate("SET " + ", ".join(assignments), values)


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
