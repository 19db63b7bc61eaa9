"""The local event-source emulator filters records as Lambda's FilterCriteria would, times schedules, and
stays quiet about the deliveries its own shutdown cuts off."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from local import function_pool
from local.event_patterns import matches, rate_seconds
from local.event_sources import EventSources, Mapping
from local.template import Function, Template, evaluate, pseudo_parameters

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


class Delivery:
    """A function that fails each delivery once let go (the backend gone, as at teardown)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.started = threading.Event()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.started.set()
        assert self.go.wait(10)
        raise RuntimeError("backend gone")


def settled(sources: EventSources, mapping: Mapping) -> None:
    deadline = time.monotonic() + 10
    while mapping.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert mapping.in_flight == 0


def test_failed_deliveries_are_reported_while_running_and_not_once_stopping(capsys: pytest.CaptureFixture[str]) -> None:
    delivery = Delivery()
    template = SimpleNamespace(resources={}, document={})
    stack: Any = SimpleNamespace(functions=[], handler=lambda function: delivery, template=template, names={})
    sources = EventSources(stack, concurrency=1)
    mapping = Mapping("Schedule", Function("Worker", Path("."), "app.handler", {}), "rate(5 minutes)", "", 1)

    delivery.go.set()
    sources._submit(mapping, {}, lambda _answer: None)
    settled(sources, mapping)
    assert capsys.readouterr().out == "Worker failed: RuntimeError('backend gone')\n"

    delivery.go.clear()
    delivery.started.clear()
    sources._submit(mapping, {}, lambda _answer: None)  # running when stop() begins
    sources._submit(mapping, {}, lambda _answer: None)  # queued: cancelled by stop()
    assert delivery.started.wait(10)
    sources.stop()
    delivery.go.set()
    settled(sources, mapping)
    assert capsys.readouterr().out == "event sources: stopping; deliveries in flight were cut off\n"


def test_a_function_runs_at_most_its_limit_at_once_and_its_threads_end_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(function_pool, "IDLE_SECONDS", 0.05)
    pool = function_pool.FunctionPool("Limited", limit=2)
    go = threading.Event()
    running: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    def task(cut_off: bool) -> None:
        with lock:
            running.append(1)
            peak.append(len(running))
        assert go.wait(10)
        with lock:
            running.pop()

    for _ in range(5):
        pool.submit(task)
    assert pool.room() == -3  # five waiting for two slots: pollers take no more
    deadline = time.monotonic() + 10
    while len(peak) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.set()
    assert pool.wait_for_room(10)
    while (pool.room() < 2 or threads_named("Limited-")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert max(peak) == 2
    assert len(peak) == 5
    assert pool.room() == 2
    assert threads_named("Limited-") == []


def threads_named(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def sources_for(**parameters: str) -> EventSources:
    """Event sources over the real template with these parameters (as a deploy would set them), unprovisioned."""
    template = Template()
    names = {**template.parameter_defaults(), **parameters, **pseudo_parameters()}
    stack: Any = SimpleNamespace(functions=[], template=template, names=names)
    return EventSources(stack)


def worker_mapping(sources: EventSources, function: str, queue_event: str) -> Mapping:
    events = next(f for f in sources.stack.template.functions() if f.logical_id == function).events
    limit = sources._number(events[queue_event]["Properties"]["ScalingConfig"]["MaximumConcurrency"])
    return Mapping("SQS", Function(function, Path("."), "app.handler", {}), "", "", 1, concurrency=limit)


def test_each_function_gets_the_concurrency_the_template_gives_it() -> None:
    # MaximumConcurrency is !Ref WorkerMaxConcurrency; ReservedConcurrentExecutions is an !If on a condition.
    sources = sources_for()
    work = next(
        e for e, v in Template().resources["WorkerFunction"]["Properties"]["Events"].items() if v["Type"] == "SQS"
    )
    assert sources.pool(worker_mapping(sources, "WorkerFunction", work)).limit == 20
    submit = Template().resources["SubmitExecutionFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert sources._number(submit) is None  # ApiReservedConcurrency 0: ReserveApiConcurrency false, no value

    tuned = sources_for(WorkerMaxConcurrency="7", ApiReservedConcurrency="3")
    assert tuned.pool(worker_mapping(tuned, "WorkerFunction", work)).limit == 7
    assert tuned._number(submit) == 3


@pytest.mark.parametrize(
    ("origins", "one"), [("", False), ("https://a.example", True), ("https://a.example,https://b.example", False)]
)
def test_conditions_evaluate_as_cloudformation_does(origins: str, one: bool) -> None:
    template = Template()
    conditions = template.document["Conditions"]
    names = {**template.parameter_defaults(), "CorsAllowOrigins": origins}
    assert evaluate({"Condition": "OneCorsOrigin"}, names, conditions) is one
    assert evaluate({"Fn::If": ["OneCorsOrigin", "x", {"Ref": "AWS::NoValue"}]}, names, conditions) == (
        "x" if one else None
    )
