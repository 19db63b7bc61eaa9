"""What the engine's queue consumers do, in Step Functions' callback pattern (docs/engine.md):

- start: one Step Functions execution per accepted execution, its jobs in topological order;
- gate: a job's iteration waits here until its last dependency completes (or one fails);
- completed / failed: a job's outcome is recorded once, and its dependents' gates are opened or failed;
- finish: the execution's outcome, from its jobs;
- cancel, and state machine executions that ended on their own (timeout, failure, abort).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from typing import Any

from execution_api.core.clock import now_iso
from execution_api.core.container import per_container
from execution_api.core.errors import ExecutionAlreadyFinished, ExecutionNotFound, check_execution_id
from execution_api.core.observability import logger
from execution_api.engine import outcomes
from execution_api.engine.config import EngineSettings, engine_dynamodb_client, engine_settings, stepfunctions_client
from execution_api.engine.outcomes import DEPENDENCY_FAILED
from execution_api.engine.params import job_params, output_url, params_text, resolve_references
from execution_api.engine.step_functions import StepFunctions, state_machine_execution_arn, state_machine_execution_name
from execution_api.storage.executions import JOB_SK_PREFIX, execution_pk
from execution_api.storage.jobs import UNFINISHED, Item, JobStore, in_plan_dependencies, strings, text


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
        self._sfn = StepFunctions(stepfunctions)
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
        started = self._sfn.start(self._settings.state_machine_arn, name, state_input)
        if started is None:
            logger.info("state machine execution already started", extra={"executionId": execution_id})
        arn = started or arn
        if self._store.start_execution(pk, arn, self._now()):
            return arn
        execution = self._store.execution(pk)
        if execution is not None and text(execution, "status") == "cancelled":
            self._sfn.stop(arn, "cancelled before it started")  # the cancel ran before this start existed
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
                self._sfn.fail(token, "Job.NotFound", f"no job {job_id}")
                return
            status = text(item, "status")
            if status == "processing" and text(item, "gateToken") == token:
                self._release(pk, item, token)  # a redelivered gate message: same answer again
                return
            if status != "pending":
                self._sfn.fail(token, "Job.NotRun", f"the job is {status}")
                return
            failed = text(item, "failedDependency")
            if failed is not None:
                self._fail_and_propagate(pk, job_id, DEPENDENCY_FAILED.format(failed), ("pending",))
                self._sfn.fail(token, "Job.DependencyFailed", DEPENDENCY_FAILED.format(failed))
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
                self._sfn.fail(token, "Job.NotRun", f"the job is {status}")
            return
        self._store.touch_execution(pk, self._now())
        self._sfn.succeed(token, self.job_message(pk, item))

    def job_message(self, pk: str, item: Item) -> dict[str, Any]:
        """The job as a worker gets it: params with each dependency reference replaced by the output url."""
        urls: dict[str, str | None] = {}
        in_plan = in_plan_dependencies(item)
        for job_id, dependency in self._store.jobs(pk, in_plan).items():
            urls[job_id] = output_url(outcomes.parsed(dependency, "result"))
        base_ids = strings(item, "baseDependsOn")
        if base_ids:
            execution = self._store.execution(pk)
            base_id = text(execution, "baseExecutionId") if execution else None
            tenant_id = text(execution, "tenantId") if execution else None
            if base_id and tenant_id:
                base_pk = execution_pk(tenant_id, base_id)
                for job_id, dependency in self._store.jobs(base_pk, base_ids).items():
                    urls[job_id] = output_url(outcomes.parsed(dependency, "result"))
        params = job_params(item)
        operation = item["operation"]["S"]
        message: dict[str, Any] = {
            "tenantId": pk.split("#")[1],
            "executionId": item["executionId"]["S"],
            "id": item["jobId"]["S"],
            "operation": operation,
            "paramsJson": params_text(resolve_references(params, urls)),
            # In dependsOn order: a media operation whose params name no input works on the first one.
            "dependencies": {d: urls[d] for d in strings(item, "dependsOn") if d in urls},
            "queueUrl": self._settings.queue_url(operation, params),  # RunJob sends the job there
            "timeoutSeconds": self._settings.job_timeout(operation, params),  # and waits this long for it
        }
        if "output" in item:
            message["output"] = item["output"]["S"]
        return message

    # ---- outcomes ----
    def completed(self, tenant_id: str, execution_id: str, job_id: str, result: Any, token: str) -> None:
        """Record a job's result once, then count it done for each dependent and open the gates whose last
        dependency it was. Every step is idempotent, so a redelivered message repeats them harmlessly."""
        pk = execution_pk(tenant_id, execution_id)
        if self._store.complete_job(pk, job_id, outcomes.result_shape(result), self._now()):
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
        self._sfn.succeed(token, {"jobId": job_id})

    def failed(self, tenant_id: str, execution_id: str, job_id: str, failure: Any, token: str) -> None:
        pk = execution_pk(tenant_id, execution_id)
        self._fail_and_propagate(pk, job_id, self._failure_message(pk, job_id, failure), ("processing", "pending"))
        self._sfn.succeed(token, {"jobId": job_id})

    def _failure_message(self, pk: str, job_id: str, failure: Any) -> str:
        failure = failure if isinstance(failure, dict) else {}
        error, cause = str(failure.get("Error") or ""), failure.get("Cause")
        if error == "States.HeartbeatTimeout":
            return "the worker stopped sending heartbeats (it may have crashed)"
        if error == "States.Timeout":
            item = self._store.job(pk, job_id)  # its own timeout, as its gate answer gave it
            if item is None:
                return "the job did not finish within its timeout"
            seconds = self._settings.job_timeout(item["operation"]["S"], job_params(item))
            return f"the job did not finish within {seconds} seconds"
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
                    self._sfn.fail(token, "Job.DependencyFailed", reason)
        self._store.touch_execution(pk, self._now())

    # ---- the end ----
    def finish(self, tenant_id: str, execution_id: str, token: str) -> str | None:
        """Write the execution's outcome from its jobs; jobs still unfinished here never ran."""
        pk = execution_pk(tenant_id, execution_id)
        status = self.conclude(pk, "not run: the execution stopped before the job started")
        self._sfn.succeed(token, {"status": status})
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
            self._store.finish_execution(pk, "completed", outcomes.execution_result(jobs), None, now)
            return "completed"
        self._store.finish_execution(pk, "failed", None, outcomes.execution_error(failed), now)
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
    def cancel(self, tenant_id: str, execution_id: str) -> list[str]:
        """Cancel an unfinished execution: it and its unfinished jobs become cancelled, the state machine run
        stops (running jobs are abandoned; their late reports find a stale token). Returns the refs of the
        provider predictions noted on the jobs it cancelled: they still run, and spend credit, until checked."""
        pk = execution_pk(tenant_id, check_execution_id(execution_id))  # a malformed id: 404 before any read
        execution = self._store.execution(pk)
        if execution is None:
            raise ExecutionNotFound(execution_id)
        if not self._store.fail_execution(pk, "", self._now(), to="cancelled"):
            raise ExecutionAlreadyFinished(text(self._store.execution(pk) or execution, "status") or "finished")
        if self._settings.state_machine_arn:
            name = state_machine_execution_name(tenant_id, execution_id)
            self._sfn.stop(state_machine_execution_arn(self._settings.state_machine_arn, name), "cancelled")
        now, predictions = self._now(), []
        for item in self._store.partition(pk, "sk, jobId, #status, gateToken, prediction"):
            if item["sk"]["S"].startswith(JOB_SK_PREFIX) and text(item, "status") in UNFINISHED:
                self._store.cancel_job(pk, item["jobId"]["S"], now)
                token = text(item, "gateToken")
                if token is not None and text(item, "status") == "pending":
                    # Stale on AWS once the run is stopped; engines that let waits run out (moto) end sooner.
                    self._sfn.fail(token, "Execution.Cancelled", "the execution was cancelled")
                if ref := item.get("prediction", {}).get("M", {}).get("ref", {}).get("S"):
                    predictions.append(ref)
        return predictions


@per_container
def engine() -> Engine:
    """One per Lambda container, made on first use."""
    settings = engine_settings()
    return Engine(JobStore(engine_dynamodb_client(), settings.executions_table_name), stepfunctions_client(), settings)
