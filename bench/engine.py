"""The engine's benchmarks (issue 11), run by `make bench` after the API's:
dispatch latency from a dependency's completion to the dependent's hand-off (p50, p95), wall time of a
20-job chain and of a 100-job fan-out/fan-in of 0 ms jobs, and the AWS cost per 1,000 jobs at list
prices from counted state transitions, Lambda invocations, SQS requests and DynamoDB writes.

In process against make run's backend (BACKEND: ministack by default, or moto: mock_aws executing the
real definition, about ten times slower), the functions fed by local/event_sources.py as in tests/engine.
The local interpreters and the polling dominate the times: they say how the design behaves, not what AWS
would measure. Writes docs/engine-benchmarks.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from moto import mock_aws

from bench.setup import setup_template
from local import ministack
from local.event_sources import EventSources
from local.moto_step_functions import patch_step_functions
from local.stack import (
    FakeLambdaContext,
    apply_environment,
    forget_cached_configuration,
    provision,
    use_local_credentials,
)
from local.template import ROOT

if TYPE_CHECKING:
    from execution_api.models.records import Job

OUTPUT = ROOT / "docs" / "engine-benchmarks.md"
# US East (N. Virginia) list prices.
PRICE_PER_TRANSITION = 0.025 / 1000  # Step Functions Standard
PRICE_PER_INVOCATION = 0.20 / 1_000_000  # Lambda requests
PRICE_PER_GB_SECOND = 0.0000133334  # Lambda arm64 duration
PRICE_PER_SQS_REQUEST = 0.40 / 1_000_000  # standard queue, after the free tier
PRICE_PER_WRITE_UNIT = 0.625 / 1_000_000  # DynamoDB on-demand
PRICE_PER_READ_UNIT = 0.125 / 1_000_000


def stamp(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class Rig:
    def __init__(self, endpoint: str | None) -> None:
        self.stack = provision(endpoint_url=endpoint, parameters={"JobRetryIntervalSeconds": "1"})
        apply_environment(self.stack)
        os.environ.update({"SIMULATED_JOB_MS": "0", "MAX_PARALLEL_JOBS": "10", "POWERTOOLS_LOG_LEVEL": "ERROR"})
        forget_cached_configuration()
        self.sources = EventSources(self.stack, endpoint)
        self.calls: Counter[str] = Counter()
        from execution_api.core.aws_clients import engine_dynamodb_client, stepfunctions_client
        from execution_api.storage.jobs import JobStore

        for client in (engine_dynamodb_client(), stepfunctions_client()):
            client.meta.events.register("before-call", self._count)
        # The bench reads the table through storage's codec, on a client of its own (its calls are not counted)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        self.store = JobStore(dynamodb, self.stack.names["ExecutionsTable"])
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")
        submit = self.stack.function("SubmitExecutionFunction")
        self._submit = self.stack.handler(submit)
        self._submit_function = submit

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def run(self, jobs: list[dict[str, Any]]) -> tuple[str, float]:
        from local.events import rest_api_event

        body = json.dumps({"executionPlan": {"jobs": [{"operation": "generateVideo", **j} for j in jobs]}})
        event = rest_api_event(
            "POST", "/api/execute", headers={"Content-Type": "application/json"}, body=body, tenant_id="local"
        )
        started = time.perf_counter()
        answer = self._submit(event, FakeLambdaContext(self._submit_function, "bench"))
        if answer["statusCode"] != 202:
            raise RuntimeError(f"the submit handler answered {answer['statusCode']}: {answer['body'][:300]}")
        execution_id: str = json.loads(answer["body"])["id"]
        from execution_api.models.records import TERMINAL_STATES
        from execution_api.storage.keys import execution_pk

        pk = execution_pk("local", execution_id)

        def done() -> bool:
            execution = self.store.execution(pk)
            return execution is not None and execution.status in TERMINAL_STATES

        assert self.sources.run_until(done, timeout_s=900, idle_s=0.005), execution_id
        elapsed = time.perf_counter() - started
        self.sources.run_until(lambda: not self.sources.busy(), 10)
        return execution_id, elapsed

    def jobs(self, execution_id: str) -> dict[str, Job]:
        from execution_api.storage.keys import execution_pk

        _, jobs = self.store.execution_and_jobs(execution_pk("local", execution_id))
        return {job.id: job for job in jobs}

    def dispatch_latencies(self, execution_id: str) -> list[float]:
        """Seconds from a job's last dependency completing to the job being marked processing (handed to
        the work queue), for every job with dependencies."""
        jobs = self.jobs(execution_id)
        found = []
        for job in jobs.values():
            if job.depends_on and job.started_at is not None:
                completed = [jobs[d].completed_at for d in job.depends_on]
                assert all(completed), (job.id, completed)  # it started: its dependencies ended
                ready = max(stamp(moment) for moment in completed if moment)
                found.append(stamp(job.started_at) - ready)
        return found

    def transitions(self, execution_id: str) -> int:
        arn = next(
            r["executionArn"]
            for r in self.sfn.list_executions(stateMachineArn=self.stack.names["ExecutionStateMachine"])["executions"]
            if r["name"].startswith(execution_id)
        )
        entered = 0
        request: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**request)
            entered += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
            if not page.get("nextToken"):
                return entered
            request["nextToken"] = page["nextToken"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def chain(n: int) -> list[dict[str, Any]]:
    return [{"id": "j0"}] + [{"id": f"j{i}", "dependsOn": [f"j{i - 1}"]} for i in range(1, n)]


def fan(n: int) -> list[dict[str, Any]]:
    middle = [f"m{i}" for i in range(n - 2)]
    return [{"id": "root"}, *({"id": m, "dependsOn": ["root"]} for m in middle), {"id": "join", "dependsOn": middle}]


def measure(backend: str) -> str:
    """Both runs on one backend; the report's section for it."""
    rows = []
    latencies: list[float] = []
    with contextlib.ExitStack() as running:
        endpoint = None
        if backend == "ministack":
            server = ministack.start()
            running.callback(server.stop)
            endpoint = server.endpoint
            os.environ["AWS_ENDPOINT_URL"] = endpoint
        else:
            os.environ.pop("AWS_ENDPOINT_URL", None)
            running.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        rig = Rig(endpoint)
        running.callback(rig.sources.stop)
        rig.run(chain(2))  # warm up: handlers imported, clients made
        for name, jobs in (("20-job chain", chain(20)), ("100-job fan-out/fan-in", fan(100))):
            before_calls, before_invocations = rig.calls.copy(), dict(rig.sources.invocations)
            execution_id, elapsed = rig.run(jobs)
            calls = rig.calls - before_calls
            invocations = {k: v - before_invocations.get(k, 0) for k, v in rig.sources.invocations.items()}
            if name.endswith("chain"):
                missing = [j for j, job in rig.jobs(execution_id).items() if job.started_at is None]
                assert not missing, (backend, rig.jobs(execution_id)[missing[0]])
                # In a chain nothing waits for a Map slot: each hand-off waits only for its dependency.
                latencies = rig.dispatch_latencies(execution_id)
            rows.append((name, len(jobs), elapsed, rig.transitions(execution_id), calls, invocations))
    return render(backend, rows, latencies)


def main() -> int:
    setup_template()
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    use_local_credentials()
    patch_step_functions()
    backend = os.environ.get("BACKEND") or "ministack"
    with contextlib.redirect_stdout(io.StringIO()):  # the functions' log lines
        section = measure(backend)
    header = HEADER.format(when=datetime.now(UTC), backend=backend, load=os.getloadavg()[0], cpus=os.cpu_count())
    report = "\n".join([header, section, FOOTER])
    OUTPUT.write_text(report)
    print(report)
    return 0


HEADER = """# Engine benchmarks

`make bench` on {when:%Y-%m-%d %H:%M} UTC, in process: the real definition on {backend} (make run's backend;
`make bench BACKEND=moto` measures moto), the functions fed by local/event_sources.py, 0 ms simulated jobs,
MAX_PARALLEL_JOBS 10, load average {load:.1f} on {cpus} CPUs. The local backend's interpreter and the event
sources' polling dominate the times; on AWS each hop is an SQS delivery to Lambda. Dispatch latency is measured
in the 20-job chain, where a hand-off waits only for its dependency (in a fan-out, most jobs wait for a Map slot).
"""

FOOTER = """
Step Functions state transitions dominate the cost ($0.025 per 1,000; 3 per job plus the Map and
Finish); Lambda requests, SQS requests and DynamoDB writes add about a cent per 1,000 jobs together.
"""


def render(backend: str, rows: list[Any], latencies: list[float]) -> str:
    lines = [
        f"## {backend}",
        "",
        f"Dispatch latency (a dependency completed -> the dependent handed to the work queue), {len(latencies)} "
        f"hand-offs: p50 {1000 * statistics.median(latencies):.0f} ms, p95 {1000 * percentile(latencies, 95):.0f} ms.",
        "",
        "| Run | Jobs | Wall time | State transitions | per job | Lambda invocations | DynamoDB writes (engine) |",
        "|---|---|---|---|---|---|---|",
    ]
    costs = []
    for name, jobs, elapsed, counted, calls, invocations in rows:
        # ministack's history leaves out the Map's iterations: then count what the definition does (3n + 2).
        transitions = counted if counted >= jobs else 3 * jobs + 2
        shown = f"{counted}" if counted >= jobs else f"{counted} in its history; {transitions} by design"
        writes = sum(v for k, v in calls.items() if k.split(":")[1] in ("UpdateItem", "PutItem"))
        transaction_items = calls.get("dynamodb:TransactWriteItems", 0) * 100  # an upper bound: 100 per call
        reads = sum(v for k, v in calls.items() if k.split(":")[1] in ("GetItem", "Query", "BatchGetItem"))
        lambdas = sum(invocations.values())
        # SQS: Step Functions sends 3 messages per job (gate, work, record) + 1 (finish); each is received
        # and deleted once by the event source mapping (batches make that an upper bound).
        sqs = (3 * jobs + 1) * 3
        cost = (
            transitions * PRICE_PER_TRANSITION
            + lambdas * (PRICE_PER_INVOCATION + 0.512 * 0.1 * PRICE_PER_GB_SECOND)  # 512 MB, ~100 ms each
            + sqs * PRICE_PER_SQS_REQUEST
            + (writes + 2 * min(transaction_items, jobs)) * PRICE_PER_WRITE_UNIT
            + reads * PRICE_PER_READ_UNIT
        )
        costs.append((name, 1000 * cost / jobs, transitions * PRICE_PER_TRANSITION / cost))
        lines.append(
            f"| {name} | {jobs} | {elapsed:.1f} s | {shown} | {transitions / jobs:.2f} | {lambdas} | {writes} |"
        )
    lines += ["", "AWS cost per 1,000 jobs at list prices (us-east-1):", ""]
    lines += [
        f"- {name}: ${per_thousand:.3f}; Step Functions transitions are {share:.0%} of it"
        for name, per_thousand, share in costs
    ]
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    sys.exit(main())
