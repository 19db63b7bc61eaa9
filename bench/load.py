"""`make load`: concurrent clients against `make run` over loopback, then a check that nothing was lost.

Starts `make run` (its default backend, ministack, or BACKEND=moto; passed through) on free ports,
submits one 500-job chain of 0 ms jobs, then drives it with CLIENTS threads (default 16), each on its
own keep-alive connection, for REQUESTS requests in all (default 200): about 75% valid plans of 0 to
20 jobs (canonical and SDK shapes, some with a webhook, some with an Idempotency-Key, some of those
sent twice) and 25% invalid ones (cycles, unknown dependencies, broken JSON, ...), or with
PLANS=one-job only plans of one 0 ms job. Meanwhile one more client reads the 500-job execution's
status over and over. With PLANS=one-job it then waits until the engine has run every accepted plan.
It reports throughput, latency percentiles per class (the first and the last 100 POSTs too), the
500-job status reads, the threads and memory of each of make run's processes (the API server, its event
sources' process, the backend) and their CPU, and status counts, then
verifies:
  - every id answered with 202 reads back with 200 from GET status, with the right totalJobs;
  - a scan of the executions table (boto3 on http://127.0.0.1:$MOTO_PORT, whatever the backend)
    holds exactly the accepted executions, each with all its job items: nothing lost, nothing extra;
  - every request got the status its class expects, and one Idempotency-Key never gave two ids.
Exit status 1 only when that verification fails or any 5xx was answered; timings never fail it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_TIMEOUT = 300.0  # seconds; a first `make run` may install ministack's venv
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 60.0
DRAIN_TIMEOUT = 600.0  # seconds the engine gets, after the last POST, to run every one-job plan
EXECUTIONS_TABLE = "ExecutionsTable"  # what `make run` names the template's table (docs/data-model.md)
OPERATIONS = ("generateVideo", "merge", "addSubtitles", "generate", "upscale", "transcode")


# ---------------------------------------------------------------------------------------------------
# `make run` as a subprocess (bench/fuzz.py uses this too)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningApi:
    url: str
    port: int
    backend_port: int
    backend: str
    log_path: Path
    keep_log: bool = False  # set on failure: the log (handler tracebacks) outlives the run

    def banner_backend(self) -> str:
        """The backend line `make run` printed, e.g. 'moto (DynamoDB, KMS): http://127.0.0.1:5005'."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "(DynamoDB, KMS):" in line:
                return line.split("tables:")[0].strip()
        return "(no backend line in make run's output)"


@contextlib.contextmanager
def make_run(backend: str, extra_env: dict[str, str] | None = None) -> Iterator[RunningApi]:
    """`make run` on free loopback ports in its own process group; always stopped on the way out."""
    port, backend_port = free_port(), free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="make-run-"))
    log_path = log_dir / "make-run.log"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(extra_env or {})
    command = ["make", "--no-print-directory", "run", f"PORT={port}", f"MOTO_PORT={backend_port}", f"BACKEND={backend}"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    api = RunningApi(f"http://{HOST}:{port}", port, backend_port, backend, log_path)
    try:
        _wait_until_up(api, process)
        yield api
    except BaseException:
        api.keep_log = True
        raise
    finally:
        _stop(process)
        if api.keep_log:
            print(f"make run's log: {log_path}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


def _wait_until_up(api: RunningApi, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"make run exited with {process.returncode}:\n{_tail(api.log_path)}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"{api.url}/api/openapi.json", timeout=2) as response,  # noqa: S310 - loopback
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"make run did not answer within {START_TIMEOUT:.0f} s:\n{_tail(api.log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group first: the server then stops its backend (ministack runs in its own group)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything the group left behind


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------------
# The requests


@dataclass
class Planned:
    """One request to send and what it must get."""

    kind: str  # latency class: valid | valid+key | replay | invalid
    body: bytes
    headers: dict[str, str]
    expected: tuple[int, ...]
    jobs: int = 0  # totalJobs the status endpoint must report, for accepted plans
    key: str | None = None  # Idempotency-Key


@dataclass
class Outcome:
    planned: Planned
    status: int  # 0: no HTTP answer
    seconds: float
    started: float  # perf_counter() when sent
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""


def valid_plan(rng: random.Random, number: int) -> tuple[dict[str, Any], int]:
    """A random DAG of 0 to 20 jobs: each job depends on up to 3 earlier ones, some wired by reference."""
    size = rng.randint(0, 20)
    sdk = rng.random() < 0.3  # the TypeScript SDK's shape: type / dependencies / output, no rootJobIds
    jobs: list[dict[str, Any]] = []
    for index in range(size):
        job_id = f"r{number}-job{index}"
        deps = rng.sample([j["id"] for j in jobs], k=min(len(jobs), rng.randint(0, 3)))
        params: dict[str, Any] = {"prompt": f"scene {index}", "seconds": rng.randint(1, 30)}
        if deps and rng.random() < 0.5:
            params["video"] = f"_videoJobDependency:{deps[0]}"
        job: dict[str, Any] = {"id": job_id, "params": params}
        job["type" if sdk else "operation"] = rng.choice(OPERATIONS)
        job["dependencies" if sdk else "dependsOn"] = deps
        if sdk:
            job["output"] = f"${job_id}"
        jobs.append(job)
    plan: dict[str, Any] = {"jobs": jobs}
    if not sdk:
        plan["rootJobIds"] = [j["id"] for j in jobs if not j["dependsOn"]]
    body: dict[str, Any] = {"executionPlan": plan}
    webhook = rng.random()
    if webhook < 0.15:
        body["options"] = {"webhookUrl": f"https://example.com/hooks/{number}", "webhookSecret": f"secret-{number}"}
    elif webhook < 0.25:
        body["options"] = {"webhook": {"url": f"https://hooks.example.org/e/{number}", "secret": f"s{number}"}}
    return body, size


def invalid_request(rng: random.Random, number: int) -> Planned:
    a, b, c = (f"r{number}-{name}" for name in "abc")
    json_body: dict[str, Any] | None = None
    raw: bytes | None = None
    expected: tuple[int, ...] = (422,)
    headers = {"Content-Type": "application/json"}
    kind = rng.choice(
        ("cycle", "unknown_dependency", "broken_json", "root_mismatch", "typo", "private_webhook", "media_type")
    )
    if kind == "cycle":
        json_body = {
            "executionPlan": {
                "jobs": [
                    {"id": a, "operation": "merge", "dependsOn": [c]},
                    {"id": b, "operation": "merge", "dependsOn": [a]},
                    {"id": c, "operation": "merge", "dependsOn": [b]},
                ]
            }
        }
    elif kind == "unknown_dependency":
        json_body = {"executionPlan": {"jobs": [{"id": a, "operation": "merge", "dependsOn": ["ghost"]}]}}
    elif kind == "broken_json":
        raw, expected = b'{"executionPlan": {"jobs": [{"id": "' + a.encode() + b'", ', (400,)
    elif kind == "root_mismatch":
        json_body = {"executionPlan": {"jobs": [{"id": a, "operation": "merge"}], "rootJobIds": [b]}}
    elif kind == "typo":
        json_body = {"executionPlan": {"jobs": [{"id": a, "operation": "merge", "dependOn": []}]}}
    elif kind == "private_webhook":
        json_body = {
            "executionPlan": {"jobs": [{"id": a, "operation": "merge"}]},
            "options": {"webhookUrl": "https://169.254.169.254/latest/meta-data"},
        }
    else:  # a valid plan, not declared as JSON
        json_body, expected, headers = {"executionPlan": {"jobs": []}}, (415,), {"Content-Type": "text/plain"}
    body = raw if raw is not None else json.dumps(json_body).encode()
    return Planned("invalid", body, headers, expected)


def one_job_plans(total: int) -> list[Planned]:
    """PLANS=one-job: every request a valid plan of one 0 ms job (issue 25's throughput figure)."""
    headers = {"Content-Type": "application/json"}
    job = {"id": "only", "operation": "generateVideo", "params": {"simulate": {"ms": 0}}}
    raw = json.dumps({"executionPlan": {"jobs": [job]}}).encode()
    return [Planned("valid", raw, dict(headers), (202,), 1) for _ in range(total)]


ROLES = ("API server", "event sources", "backend")  # make run's processes (under moto, no backend of its own)


@dataclass
class Footprint:
    """make run's processes at one moment: threads and memory MB of each role, CPU seconds of all. Memory is
    the proportional set size: a page the processes share (the libraries, what the server's fork shares)
    counts once in all, not once per process as in the resident sizes (RSS) of each."""

    parts: dict[str, tuple[int, float]]
    cpu_s: float

    @classmethod
    def of(cls, port: int) -> Footprint:
        """The process listening on `port` (the API), and every process it started."""
        server = next(
            c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == "LISTEN"
        )
        tree = [psutil.Process(server), *psutil.Process(server).children(recursive=True)]
        parts = dict.fromkeys(ROLES, (0, 0.0))
        for index, process in enumerate(tree):
            forked = index and process.cmdline() == tree[0].cmdline()  # the server's fork (local/event_process.py)
            role = ROLES[0] if index == 0 else ROLES[1] if forked else ROLES[2]
            threads, mb = parts[role]
            memory = process.memory_full_info()
            parts[role] = (threads + process.num_threads(), mb + getattr(memory, "pss", memory.rss) / 1e6)
        return cls(parts, sum(sum(p.cpu_times()[:2]) for p in tree))

    def row(self, moment: str, start: Footprint) -> str:
        threads, mb = sum(t for t, _ in self.parts.values()), sum(m for _, m in self.parts.values())
        each = " | ".join(f"{t} / {m:.0f}" for t, m in self.parts.values())
        return f"| {moment} | {threads} | {mb:.0f} | {each} | {self.cpu_s - start.cpu_s:.1f} |"


def plan_requests(total: int, seed: int) -> list[Planned]:
    """About 75% valid (a fifth of them with an Idempotency-Key, some of those sent twice), 25% invalid."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    planned: list[Planned] = []
    number = 0
    while len(planned) < total:
        number += 1
        if rng.random() >= 0.75:
            planned.append(invalid_request(rng, number))
            continue
        body, jobs = valid_plan(rng, number)
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if rng.random() < 0.2:
            key = f"load-{seed}-{number}"
            headers["Idempotency-Key"] = key
            if rng.random() < 0.5 and len(planned) + 1 < total:
                # The same key and body twice, racing: one 202, the other the same 202 replayed (or a 409
                # if it arrives while the first still runs); which one is first is up to the scheduler.
                planned.append(Planned("valid+key", raw, headers, (202, 409), jobs, key))
                planned.append(Planned("replay", raw, dict(headers), (202, 409), jobs, key))
            else:
                planned.append(Planned("valid+key", raw, headers, (202,), jobs, key))
        else:
            planned.append(Planned("valid", raw, headers, (202,), jobs))
    rng.shuffle(planned)
    return planned[:total]


# ---------------------------------------------------------------------------------------------------
# The clients


class Client:
    """One keep-alive HTTP/1.1 connection to the API."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except Exception:
            self.close()  # never resend: a POST may have been applied
            raise

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def connect(port: int, clients: int) -> tuple[list[Client], int]:
    """Open the keep-alive connections one after the other, each proven by a GET of the OpenAPI document,
    before the clock starts: `make run` once listened with socketserver's default backlog of 5, so 16
    clients connecting at once got connections reset while it was busy (a regression test in
    tests/http/test_local_server_methods_and_backlog.py keeps it fixed). Returns the clients and how many resets
    that took."""
    pool: list[Client] = []
    resets = 0
    for _ in range(clients):
        client = Client(port)
        for attempt in range(5):
            try:
                status, _headers, _raw = client.request("GET", "/api/openapi.json", None, {})
                if status == 200:
                    break
            except (OSError, http.client.HTTPException):
                resets += 1
                time.sleep(0.1 * (attempt + 1))
        else:
            raise SystemExit(f"could not open connection {len(pool) + 1} of {clients} to make run")
        pool.append(client)
    return pool, resets


def run_concurrently(pool: list[Client], work: list[Any], send: Any) -> tuple[list[Any], float]:
    """`send(client, item)` for every item, one thread per client, all pulling from one shared list."""
    results: list[Any] = [None] * len(work)
    lock = threading.Lock()
    next_index = iter(range(len(work)))

    def worker(client: Client) -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            results[index] = send(client, work[index])

    threads = [threading.Thread(target=worker, args=(client,), daemon=True) for client in pool]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def submit(client: Client, planned: Planned) -> Outcome:
    started = time.perf_counter()
    try:
        status, headers, raw = client.request("POST", "/api/execute", planned.body, planned.headers)
    except Exception as error:
        elapsed = time.perf_counter() - started
        return Outcome(planned, 0, elapsed, started, error=f"{type(error).__name__}: {error} after {elapsed:.1f} s")
    elapsed = time.perf_counter() - started
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw[:200]
    return Outcome(planned, status, elapsed, started, body, headers)


@dataclass
class StatusRead:
    execution_id: str
    status: int
    seconds: float
    total_jobs: Any = None
    listed_jobs: Any = None
    error: str = ""
    state: str = ""  # the execution's status


def read_status(client: Client, execution_id: str) -> StatusRead:
    started = time.perf_counter()
    try:
        status, _headers, raw = client.request("GET", f"/api/execute/{execution_id}/status", None, {})
    except Exception as error:
        return StatusRead(execution_id, 0, time.perf_counter() - started, error=f"{type(error).__name__}: {error}")
    elapsed = time.perf_counter() - started
    try:
        body = json.loads(raw)
    except ValueError:
        return StatusRead(execution_id, status, elapsed, error="not JSON")
    if status == 200 and body.get("id") != execution_id:
        return StatusRead(execution_id, status, elapsed, error=f"answered for id {body.get('id')!r}")
    jobs = len(body.get("jobs") or [])
    return StatusRead(execution_id, status, elapsed, body.get("totalJobs"), jobs, state=body.get("status", ""))


BIG_JOBS = 500  # the largest plan the API takes (MAX_JOBS)
FINISHED = ("completed", "failed", "cancelled")


def big_chain() -> Planned:
    """A chain of 500 jobs of 0 ms: the largest status there is, running (one job at a time) all load long."""
    jobs = [{"id": "j0", "operation": "generateVideo", "params": {"simulate": {"ms": 0}}}]
    jobs += [{**jobs[0], "id": f"j{i}", "dependsOn": [f"j{i - 1}"]} for i in range(1, BIG_JOBS)]
    body = json.dumps({"executionPlan": {"jobs": jobs}}).encode()
    return Planned("500-job chain", body, {"Content-Type": "application/json"}, (202,), BIG_JOBS)


class StatusWatcher(threading.Thread):
    """Reads one execution's status over and over, on a connection of its own, until stopped: a second
    apart, as the SDK polls (SPEC.md)."""

    def __init__(self, port: int, execution_id: str, pause_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.client, self.execution_id, self.pause_s = Client(port), execution_id, pause_s
        self.reads: list[StatusRead] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.reads.append(read_status(self.client, self.execution_id))
            self.stopped.wait(self.pause_s)
        self.client.close()

    def stop(self) -> list[StatusRead]:
        self.stopped.set()
        self.join()
        return self.reads


def wait_until_run(pool: list[Client], execution_ids: list[str], timeout_s: float) -> tuple[list[StatusRead], float]:
    """Read every execution's status until all have finished (or timeout_s passed): the last read of each,
    and when the last one was seen finished (perf_counter)."""
    last: dict[str, StatusRead] = {}
    pending = list(execution_ids)
    deadline = time.perf_counter() + timeout_s
    while pending:
        reads, _wall = run_concurrently(pool, pending, read_status)
        last.update((r.execution_id, r) for r in reads)
        pending = [r.execution_id for r in reads if r.status == 200 and r.state not in FINISHED]
        if pending and time.perf_counter() < deadline:
            time.sleep(0.5)
        elif pending:
            break
    return [last[i] for i in execution_ids], time.perf_counter()


# ---------------------------------------------------------------------------------------------------
# The table


def scan_executions(backend_port: int) -> tuple[dict[str, int], Counter[str], int]:
    """(execution id -> totalJobs of each execution item, job items per execution id, items in all)."""
    import boto3

    sys.path.insert(0, str(ROOT / "layers" / "shared"))  # the table is read through storage's codecs
    from execution_api.storage.items import execution_from_item
    from execution_api.storage.keys import EXECUTION_SK, execution_of, job_id_of, keys_of

    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{HOST}:{backend_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the local endpoint's dummy credentials
    )
    executions: dict[str, int] = {}
    jobs: Counter[str] = Counter()
    items = 0
    for page in client.get_paginator("scan").paginate(TableName=EXECUTIONS_TABLE, ConsistentRead=True):
        for item in page["Items"]:
            items += 1
            pk, sk = keys_of(item)
            try:
                _, execution_id = execution_of(pk)
            except ValueError:  # a submission marker or a prediction: counted, no execution's
                execution_id = pk
            if sk == EXECUTION_SK:
                executions[execution_id] = execution_from_item(item).total_jobs
            elif job_id_of(sk) is not None:
                jobs[execution_id] += 1
    return executions, jobs, items


# ---------------------------------------------------------------------------------------------------
# Report


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    rank = min(max(1, math.ceil(fraction * len(sorted_values))), len(sorted_values))
    return sorted_values[rank - 1]


def latency_rows(samples: dict[str, list[float]]) -> list[str]:
    rows = ["| class | requests | p50 ms | p95 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|"]
    for name, values in samples.items():
        ordered = sorted(v * 1000 for v in values)
        if ordered:
            p50, p95, p99 = (percentile(ordered, f) for f in (0.5, 0.95, 0.99))
            rows.append(f"| {name} | {len(ordered)} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {ordered[-1]:.1f} |")
    return rows


def idempotency_problems(outcomes: list[Outcome]) -> list[str]:
    """Per Idempotency-Key: one id, exactly one fresh 202 (the others carry Idempotent-Replayed: true)."""
    answers: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.planned.key:
            answers[outcome.planned.key].append(outcome)
    problems = []
    for key, sent in answers.items():
        accepted = [o for o in sent if o.status == 202]
        ids = {o.body["id"] for o in accepted}
        fresh = [o for o in accepted if o.headers.get("idempotent-replayed") != "true"]
        if len(ids) != 1 or len(fresh) != 1:
            problems.append(
                f"Idempotency-Key {key}: statuses {[o.status for o in sent]}, ids {sorted(ids)},"
                f" {len(fresh)} answers without Idempotent-Replayed"
            )
    return problems


def main() -> int:
    backend = os.environ.get("BACKEND") or "ministack"
    clients = int(os.environ.get("CLIENTS") or 16)
    total = int(os.environ.get("REQUESTS") or 200)
    seed = int(os.environ.get("SEED") or 20261126)
    one_job = os.environ.get("PLANS") == "one-job"
    planned = one_job_plans(total) if one_job else plan_requests(total, seed)
    plans = "one-job" if one_job else "mixed"
    print(f"make load: backend={backend} clients={clients} requests={total} plans={plans} seed={seed}", flush=True)

    with make_run(backend) as api:
        print(f"make run up on {api.url}; {api.banner_backend()}", flush=True)
        time.sleep(2)  # its pollers settle
        start = Footprint.of(api.port)
        pool, connect_resets = connect(api.port, clients)
        big = submit(pool[0], big_chain())
        if big.status != 202:
            raise SystemExit(f"the 500-job chain was refused: {big.status} {big.body or big.error}")
        watcher = StatusWatcher(api.port, big.body["id"])
        watcher.start()
        outcomes, wall = run_concurrently(pool, planned, submit)
        big_reads = watcher.stop()
        after_posts = Footprint.of(api.port)
        accepted: dict[str, Planned] = {big.body["id"]: big.planned}
        for outcome in outcomes:
            if outcome.status == 202 and isinstance(outcome.body, dict):
                accepted.setdefault(outcome.body["id"], outcome.planned)
        load_ids = sorted(set(accepted) - {big.body["id"]})
        # One-job plans: wait until the engine has run them all; mixed plans (real media) are read once.
        reads, run_by = wait_until_run(pool, load_ids, DRAIN_TIMEOUT if one_job else 0)
        # The 500-job chain too, when waiting: "once every execution has run" includes it.
        reads += wait_until_run(pool, [big.body["id"]], DRAIN_TIMEOUT if one_job else 0)[0]
        end = Footprint.of(api.port)  # issue 25's point 3: once the load's executions have all been accepted and run
        # And its POSTs then, against the first 100, on new connections: waiting for the chain left all but one
        # client idle for longer than the server keeps an idle connection open (READ_TIMEOUT).
        later: list[Outcome] = []
        if one_job:
            for client in pool:
                client.close()
            pool = connect(api.port, clients)[0]
            later = run_concurrently(pool, one_job_plans(100), submit)[0]
        for outcome in later:
            if outcome.status == 202 and isinstance(outcome.body, dict):
                accepted.setdefault(outcome.body["id"], outcome.planned)
        for client in pool:
            client.close()
        executions, job_items, item_count = scan_executions(api.backend_port)
        server_backend = api.banner_backend()
        api.keep_log = any(o.status >= 500 or o.status == 0 for o in [*outcomes, *later])

    problems: list[str] = []
    statuses = Counter(o.status for o in outcomes)
    by_class = Counter((o.planned.kind, o.status) for o in outcomes)
    server_errors = [o for o in outcomes if o.status >= 500]
    for outcome in outcomes:
        if outcome.status not in outcome.planned.expected:
            what = outcome.error or json.dumps(outcome.body)[:300]
            problems.append(
                f"{outcome.planned.kind} request got {outcome.status}, expected {outcome.planned.expected}: {what}"
            )
    problems += idempotency_problems(outcomes)
    for read in reads:
        expected_jobs = accepted[read.execution_id].jobs
        if read.status != 200 or read.error:
            problems.append(f"GET status of accepted {read.execution_id}: {read.status} {read.error}")
        elif read.total_jobs != expected_jobs or read.listed_jobs != expected_jobs:
            problems.append(
                f"GET status of {read.execution_id}: totalJobs {read.total_jobs}, {read.listed_jobs} jobs listed;"
                f" the plan had {expected_jobs}"
            )
    lost = sorted(set(accepted) - set(executions))
    extra = sorted(set(executions) - set(accepted))
    orphans = sorted(set(job_items) - set(executions))
    if lost:
        problems.append(f"{len(lost)} accepted executions missing from the table: {lost[:10]}")
    if extra:
        problems.append(f"{len(extra)} executions in the table that no 202 returned: {extra[:10]}")
    if orphans:
        problems.append(f"job items without an execution item under {len(orphans)} keys: {orphans[:10]}")
    for execution_id in sorted(set(accepted) & set(executions)):
        expected_jobs = accepted[execution_id].jobs
        if executions[execution_id] != expected_jobs or job_items[execution_id] != expected_jobs:
            problems.append(
                f"{execution_id}: totalJobs {executions[execution_id]} and {job_items[execution_id]} job items"
                f" in the table; the plan had {expected_jobs}"
            )

    samples: dict[str, list[float]] = defaultdict(list)
    for outcome in outcomes:
        samples[outcome.planned.kind].append(outcome.seconds)
    samples["all POSTs"] = [o.seconds for o in outcomes]
    in_order = sorted(outcomes, key=lambda o: o.started)
    samples["first 100 POSTs"] = [o.seconds for o in in_order[:100]]
    samples["last 100 POSTs"] = [o.seconds for o in in_order[-100:]]
    samples["GET status, 500-job chain, during the POSTs"] = [r.seconds for r in big_reads]
    samples["GET status (verification)"] = [r.seconds for r in reads]
    failed_reads = [r for r in big_reads if r.error or r.status != 200]
    problems += [f"GET status of the 500-job chain: {r.status} {r.error}" for r in failed_reads]
    states = Counter(r.state for r in reads if r.execution_id != big.body["id"])
    first_post = in_order[0].started if in_order else run_by
    if one_job and set(states) != {"completed"}:
        problems.append(f"not every one-job plan completed within {DRAIN_TIMEOUT:.0f} s: {dict(states)}")
    first, last = (sorted(samples[f"{n} 100 POSTs"]) for n in ("first", "last"))

    def against_first(sample: list[float]) -> str:
        return " and ".join(f"p{f * 100:.0f} {percentile(sample, f) / percentile(first, f):.2f}x" for f in (0.5, 0.95))

    growth = against_first(last)
    if later:
        samples["100 POSTs once every execution has run"] = [o.seconds for o in later]
        growth += ". The 100 POSTs once every execution had run: " + against_first(sorted(o.seconds for o in later))
    problems += [f"a POST once every execution had run got {o.status}" for o in later if o.status != 202]

    lines = [
        "",
        f"## make load: {backend}",
        "",
        "| backend | clients | requests | seconds | throughput req/s | 202 ids | in table | lost | extra | 5xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {backend} | {clients} | {len(outcomes)} | {wall:.2f} | {len(outcomes) / wall:.1f} | {len(accepted)}"
        f" | {len(executions)} | {len(lost)} | {len(extra)} | {len(server_errors)} |",
        "",
        "202 ids and the table count the 500-job chain too, and the 100 POSTs once every execution had run."
        if later
        else "202 ids and the table count the 500-job chain too.",
        "",
        *latency_rows(samples),
        "",
        f"The last 100 POSTs against the first 100: {growth}.",
        "",
        "| make run, every process | threads | memory MB (PSS) | "
        + " | ".join(f"{role}: threads / MB" for role in ROLES)
        + " | CPU s since start |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f.row(moment, start)
            for moment, f in (("start", start), ("after the POSTs", after_posts), ("once every execution has run", end))
        ),
        "",
        "| class | status | count |",
        "|---|---:|---:|",
        *(f"| {kind} | {status or 'no answer'} | {count} |" for (kind, status), count in sorted(by_class.items())),
        "",
        f"Executions of the load by status when last read: {dict(sorted(states.items()))}"
        + (f", all seen finished {run_by - first_post:.1f} s after the first POST." if one_job else "."),
        f"Status counts: {dict(sorted(statuses.items()))}. 500-job chain's status read {len(big_reads)} times."
        f" Table items scanned: {item_count} ({sum(job_items.values())} job items).",
        f"Connections opened one by one before timing; resets while opening them: {connect_resets}.",
        f"make run reported: {server_backend}",
    ]
    print("\n".join(lines))
    if server_errors:
        problems.insert(0, f"{len(server_errors)} answers were 5xx")
    if problems:
        print(f"\nFAILED: {len(problems)} problems", file=sys.stderr)
        for problem in problems[:50]:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(
        f"\nOK: every one of the {len(accepted)} accepted executions reads back with its jobs; the table holds"
        " exactly those (nothing lost, nothing extra); no 5xx."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
