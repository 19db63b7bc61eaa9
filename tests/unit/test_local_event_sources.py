"""The local event-source emulator filters records as Lambda's FilterCriteria would, and times schedules."""

from __future__ import annotations

import pytest

from local.event_patterns import matches, rate_seconds

ENDED = {
    "eventName": ["MODIFY"],
    "dynamodb": {
        "NewImage": {"status": {"S": ["completed", "failed"]}, "webhookUrl": {"S": [{"exists": True}]}},
        "OldImage": {"status": {"S": [{"anything-but": ["completed", "failed"]}]}},
    },
}


def record(old: str, new: str, url: str | None = "https://example.com/h") -> dict[str, object]:
    image: dict[str, object] = {"status": {"S": new}, **({"webhookUrl": {"S": url}} if url else {})}
    return {"eventName": "MODIFY", "dynamodb": {"NewImage": image, "OldImage": {"status": {"S": old}}}}


@pytest.mark.parametrize(
    ("old", "new", "url", "expected"),
    [
        ("processing", "completed", "https://example.com/h", True),
        ("completed", "completed", "https://example.com/h", False),  # anything-but: our own later updates
        ("processing", "completed", None, False),  # exists: no webhook, nothing to announce
        ("pending", "processing", "https://example.com/h", False),
    ],
)
def test_content_filters_match_as_lambda_does(old: str, new: str, url: str | None, expected: bool) -> None:
    assert matches(ENDED, record(old, new, url)) is expected


def test_prefix_and_plain_values() -> None:
    assert matches({"a": [{"prefix": "JOB#"}]}, {"a": "JOB#x"})
    assert not matches({"a": [{"prefix": "JOB#"}]}, {"a": "EXECUTION"})
    assert matches({"a": ["x", "y"]}, {"a": "y"})


@pytest.mark.parametrize(("schedule", "seconds"), [("rate(5 minutes)", 300), ("rate(1 hour)", 3600)])
def test_rates(schedule: str, seconds: int) -> None:
    assert rate_seconds(schedule) == seconds


def test_other_schedules_are_refused_plainly() -> None:
    with pytest.raises(ValueError, match="only rate"):
        rate_seconds("cron(0 12 * * ? *)")
