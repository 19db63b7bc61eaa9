"""Before/after of the validation hot path in the same run: `python -m bench.compare_validation [REV]`.

Extracts the shared layer and the submit function of REV (default: the commit before issue 16's work)
with `git archive`, then alternates fresh interpreters on REV's code and on the working tree's, each
timing the stages of the one validation path on the 10,000-job layered plan of `make bench` (with the
cyclic garbage collector paused: the work itself), the parse and validation as each revision's handler
runs them (collector and all), and the submit handler's whole answer to a 10,000-job plan of about 1 MB
with one duplicate id (no AWS call).
Best of all runs per stage, the steadiest measure on a shared machine. Prints a Markdown table."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from local.template import ROOT

BASE = "89a3080"
ROUNDS = int(os.environ.get("ROUNDS", "3"))  # alternations of old and new code
RUNS = int(os.environ.get("RUNS", "5"))  # timed runs per interpreter

CHILD = r"""
import gc, json, os, sys, time
sys.path[:0] = [os.environ["LAYER"], os.environ["FUNCTION"], os.environ["ROOT"]]
os.environ.update({"EXECUTIONS_TABLE_NAME": "t", "MAX_JOBS": "10000", "MAX_BODY_BYTES": str(8 * 1024 * 1024),
    "IDEMPOTENCY_TABLE_NAME": "i", "WEBHOOK_SECRET_KEY_ID": "k",
    "POWERTOOLS_SERVICE_NAME": "execution-api", "POWERTOOLS_METRICS_NAMESPACE": "ExecutionApi",
    "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"})
from bench.benchmarks import compact_plan, layered_plan
from execution_api import exact_json
from execution_api.models.request import SubmitExecutionRequest
from execution_api import validation
from execution_api.plan_checks import PlanLimits, check_plan
from local.events import rest_api_event
import submit_handler
N = 10_000
RUNS = int(os.environ["RUNS"])
text = json.dumps(layered_plan(N))
limits = PlanLimits(max_jobs=N)
best = {}
def keep(name, seconds):
    best[name] = min(best.get(name, 1e9), seconds)
handler_path = getattr(validation, "read_submission", None)  # the collector paused, where it exists
for _ in range(RUNS + 1):
    gc.collect()
    gc.disable()  # the stages: the work itself, without the cyclic collector's share
    t0 = time.perf_counter(); body = exact_json.loads(text)
    t1 = time.perf_counter(); SubmitExecutionRequest.model_validate(body)
    t2 = time.perf_counter(); plan = validation.plan_from_body(body)
    t3 = time.perf_counter(); assert not check_plan(plan, limits)
    t4 = time.perf_counter(); validation.validate_submission(body, limits)
    t5 = time.perf_counter()
    gc.enable()
    gc.collect()
    t6 = time.perf_counter()
    if handler_path is not None:
        handler_path(text, False, limits)
    else:
        validation.validate_submission(validation.parse_body(text), limits)
    t7 = time.perf_counter()
    for name, seconds in (("exact_json.loads", t1 - t0), ("SubmitExecutionRequest.model_validate", t2 - t1),
            ("plan_from_body", t3 - t2), ("check_plan", t4 - t3), ("validate_submission", t5 - t4),
            ("parse + validate, as the handler runs them", t7 - t6)):
        keep(name, seconds)
class Context:
    function_name = "f"; memory_limit_in_mb = 1024; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    def get_remaining_time_in_millis(self): return 29000
large = json.dumps(compact_plan(N))
devnull, saved = os.open(os.devnull, os.O_WRONLY), os.dup(1)
os.dup2(devnull, 1)
try:
    for _ in range(RUNS + 1):
        event = rest_api_event("POST", "/api/execute", headers={"Content-Type": "application/json"}, body=large,
            tenant_id="local")
        gc.collect()
        start = time.perf_counter()
        answer = submit_handler.lambda_handler(event, Context())
        keep("whole handler, 10,000 jobs (1 MB), one duplicate id: 422", time.perf_counter() - start)
        assert answer["statusCode"] == 422, answer["statusCode"]
finally:
    os.dup2(saved, 1)
print(json.dumps(best))
"""


def extract(rev: str, into: Path) -> None:
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", rev, "layers/shared", "functions/submit_execution"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def run(code_root: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "LAYER": str(code_root / "layers" / "shared"),
        "FUNCTION": str(code_root / "functions" / "submit_execution"),
        "ROOT": str(ROOT),
        "RUNS": str(RUNS),
    }
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    rev = sys.argv[1] if len(sys.argv) > 1 else BASE
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        before_root = Path(folder)
        extract(rev, before_root)
        best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
        for _ in range(ROUNDS):
            for name, code_root in (("before", before_root), ("after", ROOT)):
                for stage, seconds in run(code_root).items():
                    best[name][stage] = min(best[name].get(stage, 1e9), seconds)
    print(f"Best of {ROUNDS} x {RUNS} runs each, {rev} against the working tree; load average {load:.2f}.\n")
    print("| Stage | Before | After |")
    print("| --- | ---: | ---: |")
    for stage, seconds in best["before"].items():
        print(f"| {stage} | {seconds * 1000:.1f} ms | {best['after'][stage] * 1000:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
