"""What the engine's queue consumers do, in Step Functions' callback pattern (docs/engine.md):

- start: one Step Functions execution per accepted execution, its jobs in topological order;
- gate: a job's iteration waits here until its last dependency completes (or one fails);
- completed / failed: a job's outcome is recorded once, and its dependents' gates are opened or failed;
- finish: the execution's outcome, from its jobs;
- cancel, and state machine executions that ended on their own (timeout, failure, abort).
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from execution_api.container import per_container
from execution_api.engine.config import EngineSettings, engine_dynamodb_client, engine_settings, stepfunctions_client
from execution_api.engine.params import job_params, output_url, resolve_references
from execution_api.engine.store import UNFINISHED, Item, JobStore, in_plan_dependencies, strings, text
from execution_api.errors import ExecutionAlreadyFinished, ExecutionNotFound
from execution_api.observability import logger
from execution_api.repository import JOB_SK_PREFIX, execution_pk

DEPENDENCY_FAILED = "Dependency job failed: {}"
# A token Step Functions no longer waits for: its state already moved on, timed out, or the execution stopped.
STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist", "ExecutionDoesNotExist"})


def now_iso() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def state_machine_execution_name(tenant_id: str, execution_id: str) -> str:
    """Deterministic, so a redelivered stream record cannot start a second run (names are unique per state
    machine for 90 days). The tenant is hashed: names are at most 80 of A-Z a-z 0-9 - _."""
    return f"{execution_id}-{hashlib.sha256(tenant_id.encode()).hexdigest()[:20]}"


def state_machine_execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def topological_order(jobs: list[Item]) -> list[str]:
    """Job ids so that every job comes after its in-plan dependencies; ties in plan order. The Map runs
    iterations in this order, so a job waiting on its gate never holds a slot its dependency needs."""
    position = {item["jobId"]["S"]: int(item.get("position", {}).get("N", "0")) for item in jobs}
    waiting = dict.fromkeys(position, 0)
    dependents: dict[str, list[str]] = {job_id: [] for job_id in position}
    for item in jobs:
        for dependency in in_plan_dependencies(item):
            if dependency in position:
                waiting[item["jobId"]["S"]] += 1
                dependents[dependency].append(item["jobId"]["S"])
    ready = [(position[j], j) for j, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, job_id = heapq.heappop(ready)
        order.append(job_id)
        for dependent in dependents[job_id]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (position[dependent], dependent))
    if len(order) != len(position):
        raise ValueError("the plan has a cycle")  # intake refuses cycles; never start such a plan
    return order


class Engine:
    def __init__(
        self,
        store: JobStore,
        stepfunctions: Any,
        settings: EngineSettings,
        clock: Callable[[], str] = now_iso,
    ) -> None:
        self._store = store
        self._sfn = stepfunctions
        self._settings = settings
        self._now = clock

    # ---- start ----
    def start(self, tenant_id: str, execution_id: str) -> str | None:
        """Start the execution's state machine run; None when it is no longer pending (cancelled first)."""
        if not self._settings.state_machine_arn:
            raise RuntimeError("STATE_MACHINE_ARN is not configured")
        pk = execution_pk(tenant_id, execution_id)
        jobs = [
            item
            for item in self._store.partition(pk, "sk, jobId, #status, #position, dependsOn, baseDependsOn")
            if item["sk"]["S"].startswith(JOB_SK_PREFIX)
        ]
        order = topological_order(jobs)
        dependents: dict[str, list[str]] = {job_id: [] for job_id in order}
        for item in jobs:
            for dependency in in_plan_dependencies(item):
                dependents.get(dependency, []).append(item["jobId"]["S"])
        self._store.set_dependents(pk, dependents)
        name = state_machine_execution_name(tenant_id, execution_id)
        arn = state_machine_execution_arn(self._settings.state_machine_arn, name)
        state_input = {
            "tenantId": tenant_id,
            "executionId": execution_id,
            "jobIds": order,
            "config": self._settings.state_machine_input_config(),
        }
        try:
            arn = self._sfn.start_execution(
                stateMachineArn=self._settings.state_machine_arn, name=name, input=json.dumps(state_input)
            )["executionArn"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            logger.info("state machine execution already started", extra={"executionId": execution_id})
        if self._store.start_execution(pk, arn, self._now()):
            return arn
        execution = self._store.execution(pk)
        if execution is not None and text(execution, "status") == "cancelled":
            self._stop(arn, "cancelled before it started")  # the cancel ran before this start existed
            return None
        return arn

    # ---- gates ----
    def gate(self, tenant_id: str, execution_id: str, job_id: str, token: str) -> None:
        """Answer at once when every in-plan dependency is done (or one failed); else park the token for the
        completion of the last dependency. Both sides are single-item atomic writes: no race loses a gate."""
        pk = execution_pk(tenant_id, execution_id)
        for _ in range(3):  # a condition failure means the item just changed: look again
            item = self._store.job(pk, job_id)
            if item is None:
                self._answer_failure(token, "Job.NotFound", f"no job {job_id}")
                return
            status = text(item, "status")
            if status == "processing" and text(item, "gateToken") == token:
                self._release(pk, item, token)  # a redelivered gate message: same answer again
                return
            if status != "pending":
                self._answer_failure(token, "Job.NotRun", f"the job is {status}")
                return
            failed = text(item, "failedDependency")
            if failed is not None:
                self._fail_and_propagate(pk, job_id, DEPENDENCY_FAILED.format(failed), ("pending",))
                self._answer_failure(token, "Job.DependencyFailed", DEPENDENCY_FAILED.format(failed))
                return
            dependencies = in_plan_dependencies(item)
            if len(strings(item, "doneDependencies")) >= len(dependencies):
                self._release(pk, item, token)
                return
            if self._store.store_gate_token(pk, job_id, token, len(dependencies)):
                return  # the last dependency's completion answers this token
        raise RuntimeError(f"gate of {job_id} kept changing; the message will be retried")

    def _release(self, pk: str, item: Item, token: str) -> None:
        """Open a job's gate: mark it processing and hand Step Functions the job with its inputs resolved."""
        job_id = item["jobId"]["S"]
        if not self._store.mark_processing(pk, job_id, token, self._now()):
            current = self._store.job(pk, job_id)
            status = text(current, "status") if current else None
            if status in ("failed", "cancelled"):
                self._answer_failure(token, "Job.NotRun", f"the job is {status}")
            return
        self._store.touch_execution(pk, self._now())
        self._answer_success(token, self.job_message(pk, item))

    def job_message(self, pk: str, item: Item) -> dict[str, Any]:
        """The job as a worker gets it: params with each dependency reference replaced by the output url."""
        urls: dict[str, str | None] = {}
        in_plan = in_plan_dependencies(item)
        for job_id, dependency in self._store.jobs(pk, in_plan).items():
            urls[job_id] = output_url(_parsed(dependency, "result"))
        base_ids = strings(item, "baseDependsOn")
        if base_ids:
            execution = self._store.execution(pk)
            base_id = text(execution, "baseExecutionId") if execution else None
            tenant_id = text(execution, "tenantId") if execution else None
            if base_id and tenant_id:
                base_pk = execution_pk(tenant_id, base_id)
                for job_id, dependency in self._store.jobs(base_pk, base_ids).items():
                    urls[job_id] = output_url(_parsed(dependency, "result"))
        message: dict[str, Any] = {
            "tenantId": pk.split("#")[1],
            "executionId": item["executionId"]["S"],
            "id": item["jobId"]["S"],
            "operation": item["operation"]["S"],
            "params": resolve_references(job_params(item), urls),
            "dependencies": urls,
        }
        if "output" in item:
            message["output"] = item["output"]["S"]
        return message

    # ---- outcomes ----
    def completed(self, tenant_id: str, execution_id: str, job_id: str, result: Any, token: str) -> None:
        """Record a job's result once, then count it done for each dependent and open the gates whose last
        dependency it was. Every step is idempotent, so a redelivered message repeats them harmlessly."""
        pk = execution_pk(tenant_id, execution_id)
        if self._store.complete_job(pk, job_id, _result_shape(result), self._now()):
            self._store.touch_execution(pk, self._now())
        item = self._store.job(pk, job_id)
        if item is not None and text(item, "status") == "completed":
            for dependent_id in strings(item, "dependents"):
                dependent = self._store.add_done_dependency(pk, dependent_id, job_id)
                token_waiting = text(dependent, "gateToken")
                done = len(strings(dependent, "doneDependencies"))
                if (
                    text(dependent, "status") == "pending"
                    and token_waiting is not None
                    and "failedDependency" not in dependent
                    and done >= len(in_plan_dependencies(dependent))
                ):
                    self._release(pk, dependent, token_waiting)
        self._answer_success(token, {"jobId": job_id})

    def failed(self, tenant_id: str, execution_id: str, job_id: str, failure: Any, token: str) -> None:
        pk = execution_pk(tenant_id, execution_id)
        self._fail_and_propagate(pk, job_id, self._failure_message(failure), ("processing", "pending"))
        self._answer_success(token, {"jobId": job_id})

    def _failure_message(self, failure: Any) -> str:
        failure = failure if isinstance(failure, dict) else {}
        error, cause = str(failure.get("Error") or ""), failure.get("Cause")
        if error == "States.HeartbeatTimeout":
            return "the worker stopped sending heartbeats (it may have crashed)"
        if error == "States.Timeout":
            return f"the job did not finish within {self._settings.job_timeout_seconds} seconds"
        if isinstance(cause, str) and cause:
            return cause[:2000]
        return error or "the job failed"

    def _fail_and_propagate(self, pk: str, job_id: str, error: str, from_statuses: tuple[str, ...]) -> None:
        """Fail the job (once) and, transitively, every dependent: a dependent whose gate token is parked
        fails now; one that has not reached its gate yet finds failedDependency there."""
        queue = [(job_id, error, from_statuses)]
        while queue:
            current, message, statuses = queue.pop()
            self._store.fail_job(pk, current, message, self._now(), statuses)
            item = self._store.job(pk, current)
            if item is None or text(item, "status") != "failed":
                continue  # cancelled meanwhile: nothing to propagate
            for dependent_id in strings(item, "dependents"):
                dependent = self._store.mark_failed_dependency(pk, dependent_id, current)
                token = text(dependent, "gateToken")
                if text(dependent, "status") == "pending" and token is not None:
                    reason = DEPENDENCY_FAILED.format(text(dependent, "failedDependency"))
                    queue.append((dependent_id, reason, ("pending",)))
                    self._answer_failure(token, "Job.DependencyFailed", reason)
        self._store.touch_execution(pk, self._now())

    # ---- the end ----
    def finish(self, tenant_id: str, execution_id: str, token: str) -> str | None:
        """Write the execution's outcome from its jobs; jobs still unfinished here never ran."""
        pk = execution_pk(tenant_id, execution_id)
        status = self.conclude(pk, "not run: the execution stopped before the job started")
        self._answer_success(token, {"status": status})
        return status

    def conclude(
        self, pk: str, unfinished_error: str, to: str | None = None, execution_error: str | None = None
    ) -> str | None:
        """Finish an unfinished execution: its unfinished jobs failed (or cancelled), then its status."""
        items = list(self._store.partition(pk))
        execution = next((i for i in items if i["sk"]["S"] == "EXECUTION"), None)
        if execution is None or text(execution, "status") not in UNFINISHED:
            return text(execution, "status") if execution else None
        jobs = sorted(
            (i for i in items if i["sk"]["S"].startswith(JOB_SK_PREFIX)), key=lambda i: int(i["position"]["N"])
        )
        now = self._now()
        for job in jobs:
            if text(job, "status") in UNFINISHED:
                if to == "cancelled":
                    self._store.cancel_job(pk, job["jobId"]["S"], now)
                else:
                    self._store.fail_job(pk, job["jobId"]["S"], unfinished_error, now, UNFINISHED)
                job["status"] = {"S": to or "failed"}
                job["error"] = {"S": json.dumps(unfinished_error)}
        if to == "cancelled":
            self._store.fail_execution(pk, "", now, to="cancelled")
            return "cancelled"
        failed = [j for j in jobs if text(j, "status") != "completed"]
        if execution_error is not None:
            self._store.finish_execution(pk, "failed", None, execution_error, now)
            return "failed"
        if not failed:
            self._store.finish_execution(pk, "completed", _execution_result(jobs), None, now)
            return "completed"
        self._store.finish_execution(pk, "failed", None, _execution_error(failed), now)
        return "failed"

    def state_machine_ended(self, detail: dict[str, Any]) -> None:
        """Step Functions ended a run without Finish (timeout, failure, abort): the execution must not stay
        processing. From the EventBridge "Step Functions Execution Status Change" event."""
        state_input = json.loads(detail.get("input") or "{}")
        tenant_id, execution_id = state_input.get("tenantId"), state_input.get("executionId")
        if not tenant_id or not execution_id:
            return
        pk = execution_pk(tenant_id, execution_id)
        status = detail.get("status")
        if status == "TIMED_OUT":
            reason = f"the execution did not finish within {self._settings.execution_timeout_seconds} seconds"
            self.conclude(pk, reason, execution_error=reason)
        elif status == "ABORTED":
            self.conclude(pk, "the execution was stopped", to="cancelled")
        elif status == "FAILED":
            self.conclude(pk, f"the execution failed: {detail.get('error') or 'unknown error'}")

    # ---- cancel ----
    def cancel(self, tenant_id: str, execution_id: str) -> None:
        """Cancel an unfinished execution: it and its unfinished jobs become cancelled, the state machine run
        stops (running jobs are abandoned; their late reports find a stale token)."""
        pk = execution_pk(tenant_id, execution_id)
        execution = self._store.execution(pk)
        if execution is None:
            raise ExecutionNotFound(execution_id)
        if not self._store.fail_execution(pk, "", self._now(), to="cancelled"):
            raise ExecutionAlreadyFinished(text(self._store.execution(pk) or execution, "status") or "finished")
        if self._settings.state_machine_arn:
            name = state_machine_execution_name(tenant_id, execution_id)
            self._stop(state_machine_execution_arn(self._settings.state_machine_arn, name), "cancelled")
        now = self._now()
        for item in self._store.partition(pk, "sk, jobId, #status, gateToken"):
            if item["sk"]["S"].startswith(JOB_SK_PREFIX) and text(item, "status") in UNFINISHED:
                self._store.cancel_job(pk, item["jobId"]["S"], now)
                token = text(item, "gateToken")
                if token is not None and text(item, "status") == "pending":
                    # Stale on AWS once the run is stopped; engines that let waits run out (moto) end sooner.
                    self._answer_failure(token, "Execution.Cancelled", "the execution was cancelled")

    # ---- Step Functions ----
    def _stop(self, arn: str, cause: str) -> None:
        try:
            self._sfn.stop_execution(executionArn=arn, cause=cause)
        except ClientError as error:
            if error.response["Error"]["Code"] not in STALE_TOKEN_ERRORS:
                raise

    def _answer_success(self, token: str, output: Any) -> None:
        self._token_call("send_task_success", taskToken=token, output=json.dumps(output))

    def _answer_failure(self, token: str, error: str, cause: str) -> None:
        self._token_call("send_task_failure", taskToken=token, error=error, cause=cause)

    def _token_call(self, operation: str, **kwargs: Any) -> None:
        try:
            getattr(self._sfn, operation)(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] not in STALE_TOKEN_ERRORS:
                raise
            logger.info("task token no longer awaited", extra={"operation": operation})


def _parsed(item: Item, name: str) -> Any:
    return json.loads(item[name]["S"]) if name in item else None


def _result_shape(result: Any) -> dict[str, Any]:
    """A worker's result as SPEC section 3 shows it: an object with status and outputs."""
    if not isinstance(result, dict):
        return {"status": "completed", "outputs": [], "metadata": {"value": result}}
    return {"status": "completed", "outputs": [], **result}


def _execution_result(jobs: list[Item]) -> dict[str, Any] | None:
    """{url, status} of the last leaf job (no job depends on it) in plan order; None for an empty plan."""
    depended_on = {d for job in jobs for d in strings(job, "dependsOn")}
    leaves = [job for job in jobs if job["jobId"]["S"] not in depended_on]
    if not leaves:
        return None
    return {"url": output_url(_parsed(leaves[-1], "result")), "status": "completed"}


def _execution_error(failed: list[Item]) -> str:
    """Names the failed jobs' errors, the root causes first (not the "Dependency job failed" ones)."""
    errors = [(job["jobId"]["S"], str(_parsed(job, "error") or text(job, "status"))) for job in failed]
    causes = [e for e in errors if not e[1].startswith(DEPENDENCY_FAILED.format(""))] or errors
    listed = "; ".join(f"job {job_id} failed: {error}" for job_id, error in causes[:10])
    more = len(errors) - min(len(causes), 10)
    return listed + (f" (and {more} more job{'s' if more != 1 else ''} not completed)" if more else "")


@per_container
def engine() -> Engine:
    """One per Lambda container, made on first use."""
    settings = engine_settings()
    return Engine(JobStore(engine_dynamodb_client(), settings.executions_table_name), stepfunctions_client(), settings)
