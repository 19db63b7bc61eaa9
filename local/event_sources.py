"""What Lambda's event source mappings (and EventBridge rules) do, for `make run` and tests: the functions'
`Events:` of type SQS, DynamoDB, Schedule and EventBridgeRule in template.yaml are read, and messages,
stream records and Step Functions status changes are delivered to the in-process handlers. Generic: a
function added to the template with such an event gets its events the same way. As on Lambda, each
function has its own concurrency (local/function_pool.py): one function's slow invocations never hold
back another's; under `make run` each mapping has its own poller (SQS long-polled,
a stream read four times a second and one batch at a time); ReportBatchItemFailures is honoured (failed
messages come back after a second, failed stream records go first in the next batch)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3

from local.event_patterns import matches, rate_seconds, resolved_pattern
from local.function_pool import FunctionPool
from local.lambda_events import failed_ids, json_safe, scheduled_event, sqs_record, status_change_event
from local.stack import FakeLambdaContext, Handler, LocalDeployment
from local.template import REGION, Function, evaluate, resolve

# Per function, where the template sets none: enough that jobs of minutes (the worker sleeping) leave
# room for others; threads start only for work waiting and end when idle.
DEFAULT_CONCURRENCY = 32
LONG_POLL_SECONDS = 20  # SQS's maximum, what Lambda's pollers use
STREAM_POLL_SECONDS = 0.25  # Lambda reads each shard about four times a second
RUNS_POLL_SECONDS = 2.0  # a run that ends without its Finish state is rare and not urgent
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
    retry: list[dict[str, Any]] = field(default_factory=list)  # failed stream records, delivered again
    backlog: list[dict[str, Any]] = field(default_factory=list)  # stream records read, not yet delivered
    seen_runs: set[str] = field(default_factory=set)
    last_poll: float = 0.0
    every: float = 0.0  # a Schedule's period, in seconds
    concurrency: int | None = None  # an SQS mapping's ScalingConfig.MaximumConcurrency


@dataclass
class StreamRead:
    """Where the mappings of one stream are in it: one read serves them all."""

    iterators: dict[str, str] = field(default_factory=dict)  # shard id -> next iterator
    read_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class EventSources:
    def __init__(
        self, stack: LocalDeployment, endpoint_url: str | None = None, concurrency: int = DEFAULT_CONCURRENCY
    ) -> None:
        self.stack = stack
        self._sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url)
        # The regional endpoint: botocore would pick an account-based one (from the ARN) that moto does not serve.
        streams_endpoint = endpoint_url or f"https://streams.dynamodb.{REGION}.amazonaws.com"
        self._streams = boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=streams_endpoint)
        self._sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=endpoint_url)
        self._concurrency = concurrency
        self._pools: dict[str, FunctionPool] = {}
        self._stream_reads: dict[str, StreamRead] = {}
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}
        self._stopped = threading.Event()  # set by stop(): deliveries still in flight are being cut off
        self._cut_off_told = False
        self._threads: list[threading.Thread] = []
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
                batch = int(props.get("BatchSize", 10))
                limit = props.get("ScalingConfig", {}).get("MaximumConcurrency")
                found.append(
                    Mapping(kind, function, self.stack.names[queue], arn, batch, concurrency=self._number(limit))
                )
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
                pattern = resolved_pattern(props["Pattern"], self.stack.names, self.stack.attributes)
                for arn in pattern.get("detail", {}).get("stateMachineArn", []):
                    found.append(Mapping(kind, function, arn, arn, 1, [pattern]))
        return found

    def _number(self, value: Any) -> int | None:
        """A concurrency figure as a deploy would set it (a number, !Ref to a parameter, !If); None if unset."""
        value = evaluate(value, self.stack.names, self.stack.template.document.get("Conditions", {}))
        return int(value) if value not in (None, "") and int(value) > 0 else None

    def pool(self, mapping: Mapping) -> FunctionPool:
        """The function's concurrency, shared by its mappings (the template's limit, else the default)."""
        name = mapping.function.logical_id
        with self._lock:
            if name not in self._pools:
                reserved = self.stack.template.resources.get(name, {}).get("Properties", {})
                limit = self._number(reserved.get("ReservedConcurrentExecutions"))
                self._pools[name] = FunctionPool(name, limit or mapping.concurrency or self._concurrency)
            return self._pools[name]

    # ---- driving ----
    def poll_once(self) -> int:
        """Hand every available message, record and run status to its function (asynchronously); returns how
        many were handed over. What tests drive, in their own thread, without waiting on an empty queue."""
        delivered = 0
        for mapping in self.mappings:
            if mapping.function.logical_id not in self.paused:
                delivered += self._poll(mapping, wait_s=0)
        return delivered

    def _poll(self, mapping: Mapping, wait_s: int) -> int:
        """wait_s: how long SQS may hold an empty receive (Lambda's pollers: 20 s), and, when not 0, a
        stream is read at most every STREAM_POLL_SECONDS."""
        if mapping.kind == "SQS":
            return self._poll_queue(mapping, wait_s)
        if mapping.kind == "DynamoDB":
            return self._poll_stream(mapping, STREAM_POLL_SECONDS if wait_s else 0.0)
        if mapping.kind == "Schedule":
            return self._poll_schedule(mapping)
        return self._poll_runs(mapping)

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
        """Deliver in the background until stop(), as the event source mappings would under `make run`:
        one poller per mapping."""
        for mapping in self.mappings:
            thread = threading.Thread(
                target=self._poller, args=(mapping,), name=f"poller-{mapping.function.logical_id}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _poller(self, mapping: Mapping) -> None:
        idle_s = {"SQS": 0.0, "DynamoDB": STREAM_POLL_SECONDS / 2, "Schedule": 1.0}.get(mapping.kind, RUNS_POLL_SECONDS)
        while not self._stopped.is_set():
            try:
                if mapping.function.logical_id in self.paused or not self.pool(mapping).wait_for_room(1):
                    self._stopped.wait(0.05)
                elif not self._poll(mapping, wait_s=LONG_POLL_SECONDS) and idle_s:
                    self._stopped.wait(idle_s)
            except Exception as error:
                if not self._stopped.is_set():
                    print(f"event sources ({mapping.function.logical_id}): {error!r}", flush=True)
                self._stopped.wait(1)

    def stop(self) -> None:
        """Stop polling; deliveries not yet begun are cut off, those running end on their own (daemons)."""
        self._stopped.set()
        for pool in list(self._pools.values()):
            pool.stop()

    # ---- SQS ----
    def _poll_queue(self, mapping: Mapping, wait_s: int) -> int:
        room = self.pool(mapping).room()
        if room <= 0:
            return 0
        messages = self._sqs.receive_message(
            QueueUrl=mapping.source,
            MaxNumberOfMessages=min(10, room * mapping.batch_size),
            WaitTimeSeconds=wait_s,
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
    def _poll_stream(self, mapping: Mapping, every_s: float = 0.0) -> int:
        """One batch at a time per mapping, as Lambda reads a shard (ParallelizationFactor 1): the next
        batch waits until the last is settled, and records it failed go first. The mappings of one stream
        share its reads (at most one per `every_s`), each keeping the records its filters match."""
        if mapping.in_flight:
            return 0
        if not mapping.retry and not mapping.backlog:
            self._read_stream(mapping.source, every_s)
        records = mapping.retry or mapping.backlog
        batch = [json_safe(r) for r in records[: mapping.batch_size]]
        del records[: len(batch)]
        if batch:

            def settle(answer: Any) -> None:
                failed = failed_ids(answer, [r["dynamodb"]["SequenceNumber"] for r in batch])
                mapping.retry[:0] = [r for r in batch if r["dynamodb"]["SequenceNumber"] in failed]

            self._submit(mapping, {"Records": batch}, settle)
        return len(batch)

    def _read_stream(self, arn: str, every_s: float) -> None:
        with self._lock:
            stream = self._stream_reads.setdefault(arn, StreamRead())
        with stream.lock:
            if time.monotonic() - stream.read_at < every_s:
                return
            stream.read_at = time.monotonic()
            if not stream.iterators:
                description = self._streams.describe_stream(StreamArn=arn)["StreamDescription"]
                for shard in description.get("Shards", []):
                    stream.iterators[shard["ShardId"]] = self._streams.get_shard_iterator(
                        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                    )["ShardIterator"]
            records: list[dict[str, Any]] = []
            for shard, iterator in list(stream.iterators.items()):
                answer = self._streams.get_records(ShardIterator=iterator)
                stream.iterators[shard] = answer.get("NextShardIterator") or iterator
                records.extend({**r, "eventSourceARN": arn} for r in answer.get("Records", []))
            if records:
                stream.read_at = 0.0  # more may be waiting: read again at once
            for mapping in self.mappings:
                if mapping.kind == "DynamoDB" and mapping.source == arn:
                    mapping.backlog.extend(
                        r for r in records if not mapping.patterns or any(matches(p, r) for p in mapping.patterns)
                    )

    # ---- scheduled rules ----
    def _poll_schedule(self, mapping: Mapping) -> int:
        if time.monotonic() - mapping.last_poll < mapping.every:
            return 0
        mapping.last_poll = time.monotonic()
        self._submit(mapping, scheduled_event(), lambda _answer: None)
        return 1

    # ---- Step Functions status changes ----
    def _poll_runs(self, mapping: Mapping) -> int:
        if time.monotonic() - mapping.last_poll < RUNS_POLL_SECONDS:
            return 0
        mapping.last_poll = time.monotonic()
        # Only the statuses the rule matches are listed: the list stays short however many runs succeed.
        wanted = {s for p in mapping.patterns for s in p.get("detail", {}).get("status", TERMINAL_RUN_STATUSES)}
        delivered = 0
        for status in sorted(wanted & set(TERMINAL_RUN_STATUSES)):
            runs = self._sfn.list_executions(stateMachineArn=mapping.source, statusFilter=status)["executions"]
            for run in runs:
                if run["executionArn"] in mapping.seen_runs:
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

        def deliver(cut_off: bool) -> None:
            answer = None
            try:
                if cut_off:
                    self._report_failure(mapping, None)
                    return
                try:
                    answer = self._invoke(mapping.function, event)
                except Exception as error:
                    self._report_failure(mapping, error)
                try:
                    settle(answer)
                except Exception as error:
                    if not self._stopped.is_set():
                        self.errors.append(error)
            finally:
                with self._lock:
                    mapping.in_flight -= 1

        self.pool(mapping).submit(deliver)

    def _report_failure(self, mapping: Mapping, error: BaseException | None) -> None:
        """A failed delivery is printed; once stop() has begun, failures are expected (the backend and the
        functions are going away): one calm line says so instead."""
        if not self._stopped.is_set() and error is not None:
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
