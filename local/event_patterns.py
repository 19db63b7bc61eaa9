"""What the template's event filters and schedules say, read as Lambda and EventBridge read them: filter
patterns with content filters (exists, anything-but, prefix), and rate(N unit) schedules."""

from __future__ import annotations

import re
from typing import Any

from local.template import resolve


def matches(pattern: Any, value: Any) -> bool:
    """The subset of EventBridge / Lambda filter patterns the template uses: nested objects whose leaves
    are lists of allowed values or of content filters (exists, anything-but, prefix)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    if isinstance(pattern, list):
        return any(_matches_leaf(p, value) for p in pattern)
    return bool(pattern == value)


def _matches_leaf(allowed: Any, value: Any) -> bool:
    if not isinstance(allowed, dict):
        return bool(value == allowed)
    if "exists" in allowed:
        return (value is not None) == bool(allowed["exists"])
    if "anything-but" in allowed:
        banned = allowed["anything-but"]
        return value is not None and value not in (banned if isinstance(banned, list) else [banned])
    if "prefix" in allowed:
        return isinstance(value, str) and value.startswith(allowed["prefix"])
    return False


def rate_seconds(schedule: str) -> float:
    """rate(5 minutes) -> 300; the only schedule form the template uses."""
    found = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", schedule.strip())
    if found is None:
        raise ValueError(f"unsupported schedule {schedule!r}: only rate(N unit) runs locally")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[found[2].rstrip("s")]
    return int(found[1]) * unit


def resolved_pattern(value: Any, names: dict[str, str], attributes: dict[tuple[str, str], str]) -> Any:
    """A pattern with its intrinsics (e.g. !Ref ExecutionStateMachine) resolved."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub"):
            return resolve(value, names, attributes)
        return {k: resolved_pattern(v, names, attributes) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved_pattern(v, names, attributes) for v in value]
    return value
