"""What Lambda's event source mappings (and EventBridge rules) do, for `make run` and tests: the
functions' `Events:` of type SQS, DynamoDB and EventBridgeRule in template.yaml are read, and queue
messages, stream records and Step Functions status changes are delivered to the in-process handlers.

Generic on purpose: a function added to the template with such an event gets its events the same way.
Delivery is concurrent (a pool, like Lambda's concurrent invocations), so a slow job never holds back
another; partial batch failures (ReportBatchItemFailures) are honoured: failed SQS messages come back
after a second (not the queue's visibility timeout), failed stream records are delivered again.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3

from local.event_patterns import matches, rate_seconds
from local.lambda_events import failed_ids, json_safe, scheduled_event, sqs_record, status_change_event
from local.moto_step_functions import patch_step_functions
from local.stack import FakeLambdaContext, Handler, LocalDeployment
from local.template import REGION, Function, resolve

TERMINAL_RUN_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass
class Mapping:
    kind: str  # SQS | DynamoDB | Schedule | EventBridgeRule
    function: Function
    source: str  # queue url, stream arn or state machine arn
    source_arn: str
    batch_size: int
    patterns: list[Any] = field(default_factory=list)
    in_flight: int = 0
    shard_iterators: dict[str, str] = field(default_factory=dict)
    retry: list[dict[str, Any]] = field(default_factory=list)  # failed stream records, delivered again
    seen_runs: set[str] = field(default_factory=set)
    last_poll: float = 0.0
    every: float = 0.0  # a Schedule's period, in seconds


class EventSources:
    def __init__(self, stack: LocalDeployment, endpoint_url: str | None = None, concurrency: int = 16) -> None:
        self.stack = stack
        self._sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url)
        # The regional endpoint: botocore would pick an account-based one (from the ARN) that moto does not serve.
        streams_endpoint = endpoint_url or f"https://streams.dynamodb.{REGION}.amazonaws.com"
        self._streams = boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=streams_endpoint)
        self._sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=endpoint_url)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="event-source")
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}
        self._stopped = threading.Event()  # set by stop(): deliveries still in flight are being cut off
        self._cut_off_told = False
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []
        self.paused: set[str] = set()  # functions whose events wait (tests hold a worker back this way)
        self.invocations: dict[str, int] = {}  # per function, for the benchmarks
        self.mappings = [m for f in stack.functions for m in self._mappings_of(f)]

    def _mappings_of(self, function: Function) -> list[Mapping]:
        found = []
        for event in function.events.values():
            props = event.get("Properties", {})
            kind = event["Type"]
            if kind == "SQS":
                arn = resolve(props["Queue"], self.stack.names, self.stack.attributes)
                queue = next(q for q, a in self.stack.attributes.items() if a == arn and q[1] == "Arn")[0]
                found.append(Mapping(kind, function, self.stack.names[queue], arn, int(props.get("BatchSize", 10))))
            elif kind == "DynamoDB":
                arn = resolve(props["Stream"], self.stack.names, self.stack.attributes)
                patterns = [json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])]
                found.append(Mapping(kind, function, arn, arn, int(props.get("BatchSize", 100)), patterns))
            elif kind == "Schedule":
                # EventBridge's scheduled rule, e.g. rate(5 minutes): a timer here (the sweeper).
                every = rate_seconds(str(props["Schedule"]))
                found.append(
                    Mapping(kind, function, str(props["Schedule"]), "", 1, last_poll=time.monotonic(), every=every)
                )
            elif kind == "EventBridgeRule" and props.get("Pattern", {}).get("source") == ["aws.states"]:
                # Step Functions' status-change events, which the local backends do not emit: made from runs.
                pattern = _resolved(props["Pattern"], self.stack)
                for arn in pattern.get("detail", {}).get("stateMachineArn", []):
                    found.append(Mapping(kind, function, arn, arn, 1, [pattern]))
        return found

    # ---- driving ----
    def poll_once(self) -> int:
        """Hand every available message, record and run status to its function (asynchronously); returns how
        many were handed over."""
        delivered = 0
        for mapping in self.mappings:
            if mapping.function.logical_id in self.paused:
                continue
            if mapping.kind == "SQS":
                delivered += self._poll_queue(mapping)
            elif mapping.kind == "DynamoDB":
                delivered += self._poll_stream(mapping)
            elif mapping.kind == "Schedule":
                delivered += self._poll_schedule(mapping)
            else:
                delivered += self._poll_runs(mapping)
        return delivered

    def busy(self) -> bool:
        with self._lock:
            return any(m.in_flight for m in self.mappings)

    def run_until(self, done: Callable[[], bool], timeout_s: float = 60.0, idle_s: float = 0.01) -> bool:
        """Deliver until `done()` holds (checked between rounds), at most `timeout_s`; True when done."""
        deadline = time.monotonic() + timeout_s
        checked = 0.0
        while time.monotonic() < deadline:
            if self.errors:
                raise self.errors[0]
            if time.monotonic() - checked > 0.1:  # done() may be costly; events flow meanwhile
                if done():
                    return True
                checked = time.monotonic()
            if not self.poll_once():
                time.sleep(idle_s)
        return done()

    def start(self) -> None:
        """Deliver in the background until stop(), as the event source mappings would under `make run`."""

        def loop() -> None:
            while not self._stopped.is_set():
                try:
                    if not self.poll_once():
                        time.sleep(0.01)
                except Exception as error:
                    if not self._stopped.is_set():
                        print(f"event sources: {error!r}", flush=True)
                    time.sleep(1)

        self._thread = threading.Thread(target=loop, name="event-sources", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- SQS ----
    def _poll_queue(self, mapping: Mapping) -> int:
        with self._lock:
            room = self._pool._max_workers - mapping.in_flight
        if room <= 0:
            return 0
        messages = self._sqs.receive_message(
            QueueUrl=mapping.source,
            MaxNumberOfMessages=min(10, room * mapping.batch_size),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        for start in range(0, len(messages), mapping.batch_size):
            batch = messages[start : start + mapping.batch_size]
            event = {"Records": [sqs_record(m, mapping.source_arn) for m in batch]}
            self._submit(mapping, event, partial(self._settle_messages, mapping, batch))
        return len(messages)

    def _settle_messages(self, mapping: Mapping, batch: list[dict[str, Any]], answer: Any) -> None:
        """Delete what the function processed; what failed comes back in a second."""
        failed = failed_ids(answer, [m["MessageId"] for m in batch])
        for message in batch:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=mapping.source, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=1
                )
            else:
                self._sqs.delete_message(QueueUrl=mapping.source, ReceiptHandle=message["ReceiptHandle"])

    # ---- DynamoDB Streams ----
    def _poll_stream(self, mapping: Mapping) -> int:
        records, mapping.retry = mapping.retry, []
        shards = self._streams.describe_stream(StreamArn=mapping.source)["StreamDescription"].get("Shards", [])
        for shard in shards:
            iterator = mapping.shard_iterators.get(shard["ShardId"])
            if iterator is None:
                iterator = self._streams.get_shard_iterator(
                    StreamArn=mapping.source, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            answer = self._streams.get_records(ShardIterator=iterator)
            mapping.shard_iterators[shard["ShardId"]] = answer.get("NextShardIterator") or iterator
            records.extend({**r, "eventSourceARN": mapping.source_arn} for r in answer.get("Records", []))
        records = [r for r in records if not mapping.patterns or any(matches(p, r) for p in mapping.patterns)]
        for start in range(0, len(records), mapping.batch_size):
            batch = [json_safe(r) for r in records[start : start + mapping.batch_size]]

            def settle(answer: Any, b: list[dict[str, Any]] = batch) -> None:
                failed = failed_ids(answer, [r["dynamodb"]["SequenceNumber"] for r in b])
                mapping.retry.extend(r for r in b if r["dynamodb"]["SequenceNumber"] in failed)

            self._submit(mapping, {"Records": batch}, settle)
        return len(records)

    # ---- scheduled rules ----
    def _poll_schedule(self, mapping: Mapping) -> int:
        if time.monotonic() - mapping.last_poll < mapping.every:
            return 0
        mapping.last_poll = time.monotonic()
        self._submit(mapping, scheduled_event(), lambda _answer: None)
        return 1

    # ---- Step Functions status changes ----
    def _poll_runs(self, mapping: Mapping) -> int:
        # A run's end is rare and not urgent: look twice a second, not on every round.
        if time.monotonic() - mapping.last_poll < 0.5:
            return 0
        mapping.last_poll = time.monotonic()
        delivered = 0
        for run in self._sfn.list_executions(stateMachineArn=mapping.source).get("executions", []):
            if run["status"] not in TERMINAL_RUN_STATUSES or run["executionArn"] in mapping.seen_runs:
                continue
            mapping.seen_runs.add(run["executionArn"])
            described = self._sfn.describe_execution(executionArn=run["executionArn"])
            event = status_change_event(run, described, mapping.source)
            if any(matches(p, event) for p in mapping.patterns):
                self._submit(mapping, event, lambda _answer: None)
                delivered += 1
        return delivered

    # ---- invoking ----
    def _submit(self, mapping: Mapping, event: dict[str, Any], settle: Callable[[Any], None]) -> None:
        with self._lock:
            mapping.in_flight += 1
        future = self._pool.submit(self._invoke, mapping.function, event)

        def finished(done: Future[Any]) -> None:
            try:
                answer = done.result()
            except Exception as error:
                self._report_failure(mapping, error)
                answer = None
            try:
                settle(answer)
            except Exception as error:
                self.errors.append(error)
            with self._lock:
                mapping.in_flight -= 1

        future.add_done_callback(finished)

    def _report_failure(self, mapping: Mapping, error: BaseException) -> None:
        """A failed delivery is printed; once stop() has begun, failures are expected (the backend and the
        functions are going away): one calm line says so instead."""
        if not self._stopped.is_set():
            print(f"{mapping.function.logical_id} failed: {error!r}", flush=True)
            return
        with self._lock:
            told, self._cut_off_told = self._cut_off_told, True
        if not told:
            print("event sources: stopping; deliveries in flight were cut off", flush=True)

    def _invoke(self, function: Function, event: dict[str, Any]) -> Any:
        with self._lock:
            self.invocations[function.logical_id] = self.invocations.get(function.logical_id, 0) + 1
            handler = self._handlers.get(function.logical_id)
            if handler is None:
                handler = self._handlers[function.logical_id] = self.stack.handler(function)
        return handler(event, FakeLambdaContext(function, str(uuid.uuid4())))


def _resolved(value: Any, stack: LocalDeployment) -> Any:
    """A pattern with its intrinsics (e.g. !Ref ExecutionStateMachine) resolved."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub"):
            return resolve(value, stack.names, stack.attributes)
        return {k: _resolved(v, stack) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, stack) for v in value]
    return value


def start_event_sources(stack: LocalDeployment, endpoint_url: str | None) -> EventSources:
    """For `make run`: deliver in the background. The embedded moto runs state machines for real."""
    sources = EventSources(stack, endpoint_url)
    sources.start()
    return sources


def enable_state_machine_execution() -> None:
    """The embedded moto server runs state machine definitions (Map, Choice, SQS task tokens...) instead of
    only recording them. Set before any state machine is created: moto keeps them in another backend."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    patch_step_functions()


class BackendWithEventSources:
    """The backend server and the event sources that feed the functions from it; stop() stops both."""

    def __init__(self, backend: Any, stack: LocalDeployment, endpoint_url: str) -> None:
        # moto's state machine interpreter calls SQS and DynamoDB on localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = endpoint_url.rsplit(":", 1)[1]
        self.backend = backend
        self.sources = start_event_sources(stack, endpoint_url)

    def stop(self) -> None:
        self.sources.stop()
        self.backend.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)
