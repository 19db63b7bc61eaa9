"""The one way this service writes a moment: UTC ISO 8601 with Z, with milliseconds (2026-11-26T06:47:19.123Z)
for what executions, jobs, deliveries and predictions record (the form the SDK reads, and one whose string
order is time order: the sweeper and the prediction poller compare them as strings in DynamoDB conditions),
or to the second for when a key was made or revoked."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso_millis(datetime.now(UTC))


def iso_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
