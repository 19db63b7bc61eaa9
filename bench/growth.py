"""`make run` under growth: the latency of a 100-job POST to make run's own
server (waitress, the real handlers, its embedded moto server over HTTP) after 0, 100 and 1,000 stored
100-job executions, a status read at each, and whether a 500-job plan is still accepted at once after
the thousand.

The stored executions are copies of one real stored execution (all 101 of its items, under new ids),
put straight into moto's table: as many items, of the same shape, as POSTs would have written, in a
few seconds instead of minutes. Plain moto (a whole-table copy per transaction action) is timed too,
where that still takes seconds rather than minutes, to show what local/moto_transactions.py removes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from local import moto_transactions
from local.ministack import free_port
from local.server import serve
from local.stack import LocalDeployment, forget_cached_configuration
from local.template import ACCOUNT_ID, REGION

LEVELS = (0, 100, 1_000)  # stored executions before the timed POSTs
TIMED_POSTS = 5  # 100-job POSTs timed at each level
JOBS = 100
LARGE_JOBS = 500


@dataclass
class Level:
    stored: int  # executions in the table before the first timed POST
    items: int  # items in the executions table then
    seconds: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    status_read: float = 0.0  # GET status of the last execution accepted, 100 jobs

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass
class Transaction:
    """One TransactWriteItems of 100 puts, sent straight to make run's moto server (no 2 s client
    timeout), with make run's item rollback and with plain moto's whole-table copies."""

    stored: int
    items: int
    ours: float
    plain: float


@dataclass
class Growth:
    levels: list[Level]
    transactions: list[Transaction]
    large: Level  # the 500-job POST after the last level


class _Target:
    def __init__(self, url: str, moto_url: str, stack: LocalDeployment) -> None:
        self.url = url
        self.table_name = stack.names["ExecutionsTable"]
        self.client = boto3.client(
            "dynamodb",
            endpoint_url=moto_url,
            region_name=REGION,
            config=Config(read_timeout=300, retries={"total_max_attempts": 1}),
        )
        self.table = dynamodb_backends[ACCOUNT_ID][REGION].tables[stack.names["ExecutionsTable"]]
        self.template = ""  # a stored execution's items, JSON
        self.template_id = ""
        self.template_pk = ""

    def post(self, body: bytes) -> tuple[int, float, str]:
        request = urllib.request.Request(  # noqa: S310 - loopback only
            self.url + "/api/execute", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        elapsed = time.perf_counter() - started
        return status, elapsed, json.loads(raw).get("id", "") if status == 202 else ""

    def executions(self) -> int:
        return sum(1 for bucket in self.table.items.values() if any(sk.value == "EXECUTION" for sk in bucket))

    def items(self) -> int:
        return len(self.table)

    def remember(self, execution_id: str) -> None:
        """Keep a stored execution's items (as JSON text) to copy."""
        for pk, bucket in self.table.items.items():
            if pk.value.endswith(f"#EXECUTION#{execution_id}"):
                self.template = json.dumps([item.to_json()["Attributes"] for item in bucket.values()])
                self.template_id, self.template_pk = execution_id, pk.value
                return
        raise RuntimeError(f"execution {execution_id} is not in moto's table")

    def fill_to(self, executions: int) -> None:
        hash_name, range_name = self.table.hash_key_attr, self.table.range_key_attr
        for number in range(self.executions(), executions):
            copy_id = f"benchGrowth{number:010d}"  # 21 characters, like the product's ids
            for attributes in json.loads(self.template.replace(self.template_id, copy_id)):
                # What Table.put_item stores, without its checks and its size sums, which take
                # milliseconds per item (the original item passed them); every copy has objects of
                # its own, as stored items do, so the heap grows as it would
                values = {name: DynamoType(value) for name, value in attributes.items()}
                item = Item(values[hash_name], values[range_name], {})
                dict.update(item.attrs, values)
                self.table.items[item.hash_key][item.range_key] = item

    def transaction(self, stored: int) -> Transaction:
        """A 100-put transaction timed with our rollback and with moto's; its items removed after each."""
        timings = []
        for enable in (moto_transactions.enable, moto_transactions.disable):
            enable()
            pk = f"BENCH#transaction#{len(timings)}"
            puts = [
                {"Put": {"TableName": self.table_name, "Item": {"pk": {"S": pk}, "sk": {"S": f"JOB#{n}"}}}}
                for n in range(JOBS)
            ]
            started = time.perf_counter()
            self.client.transact_write_items(TransactItems=puts)
            timings.append(time.perf_counter() - started)
            del self.table.items[DynamoType({"S": pk})]
        moto_transactions.enable()
        return Transaction(stored, self.items(), *timings)

    def timed(self, level: Level, body: bytes, posts: int, read: bool = True) -> Level:
        for _ in range(posts):
            with contextlib.redirect_stderr(io.StringIO()):  # the server's line per request
                status, seconds, execution_id = self.post(body)
            level.statuses.append(status)
            level.seconds.append(seconds)
            if execution_id and not self.template:
                self.remember(execution_id)
        if read and execution_id:
            level.status_read = self.read_status(execution_id)
        return level

    def read_status(self, execution_id: str) -> float:
        started = time.perf_counter()
        with (
            contextlib.redirect_stderr(io.StringIO()),
            urllib.request.urlopen(f"{self.url}/api/execute/{execution_id}/status", timeout=300) as response,  # noqa: S310
        ):
            response.read()
        return time.perf_counter() - started


@contextlib.contextmanager
def _make_run() -> Iterator[_Target]:
    """make run's server in this process on free ports (moto backend)."""
    saved = dict(os.environ)
    port = free_port()
    moto_port = free_port()
    httpd, backend, stack = serve(port, moto_port)
    try:
        yield _Target(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}", stack)
    finally:
        httpd.shutdown()
        backend.stop()
        os.environ.clear()
        os.environ.update(saved)
        forget_cached_configuration()


def measure_growth(plan: Callable[[int], dict[str, Any]], progress: Callable[[str], None]) -> Growth:
    body = json.dumps(plan(JOBS)).encode()
    large_body = json.dumps(plan(LARGE_JOBS)).encode()
    with _make_run() as target:
        # One untimed POST warms the server up and gives the execution to copy; then it is removed.
        target.timed(Level(0, 0), body, 1)
        del target.table.items[DynamoType({"S": target.template_pk})]
        levels: list[Level] = []
        transactions = [target.transaction(0)]
        for stored in LEVELS:
            target.fill_to(stored)
            progress(f"make run under growth: {TIMED_POSTS} POSTs of {JOBS} jobs after {target.executions():,}")
            levels.append(target.timed(Level(target.executions(), target.items()), body, TIMED_POSTS))
            if stored == LEVELS[0]:
                progress(f"make run under growth: plain moto's transaction after {target.executions()} executions")
                transactions.append(target.transaction(target.executions()))
        progress(f"make run under growth: one POST of {LARGE_JOBS} jobs after {target.executions():,} executions")
        large = target.timed(Level(target.executions(), target.items()), large_body, 1, read=False)
    for level in [*levels, large]:
        if any(status != 202 for status in level.statuses):
            raise RuntimeError(f"make run answered {level.statuses} after {level.stored} executions")
    return Growth(levels, transactions, large)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def render_growth(growth: Growth) -> list[str]:
    rows = [
        f"| {level.stored:,} | {level.items:,} | {len(level.seconds)} | {_ms(level.median)} "
        f"| {_ms(max(level.seconds))} | {_ms(level.status_read)} |"
        for level in growth.levels
    ]
    large = growth.large
    return [
        "## `make run` under growth",
        "",
        f"POSTs of a {JOBS}-job plan to `make run`'s own server (waitress, the real handlers, its embedded",
        "moto server over HTTP, one fresh connection each, as `curl` would), after stored 100-job",
        "executions. They are copies of one real stored execution (its 101 items under new ids) put",
        "straight into moto's table: the same items as POSTs would write, in seconds instead of minutes.",
        "*GET status after*: one read of the last execution POSTed (100 jobs), whose Query moto answers",
        "from that execution's partition alone in `make run` (plain moto lists the whole table).",
        "",
        "| Stored executions | Items in the table | POSTs | Median | Slowest | GET status after |",
        "|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"After {large.stored:,} executions ({large.items:,} items), a {LARGE_JOBS}-job plan: "
        f"{large.statuses[0]} in {_ms(large.seconds[0])}.",
        "",
        "`make run`'s moto rolls a failed transaction back by restoring the items it addresses",
        "(local/moto_transactions.py). Plain moto 5.2.5 copies every table a transaction touches once per",
        f"action, so its cost grows with the table. One `TransactWriteItems` of {JOBS} puts, sent straight",
        "to the same moto server, both ways (the handler's DynamoDB client gives up after 2 s, and the",
        "POST is a 503):",
        "",
        "| Stored executions | Items in the table | make run's moto | Plain moto |",
        "|---:|---:|---:|---:|",
        *(f"| {t.stored:,} | {t.items:,} | {_ms(t.ours)} | {_ms(t.plain)} |" for t in growth.transactions),
        "",
    ]
