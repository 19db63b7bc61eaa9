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
from collections.abc import Callable, Sequence
from dataclasses import replace
from operator import attrgetter
from typing import Any

from execution_api.core.aws_clients import engine_dynamodb_client, stepfunctions_client
from execution_api.core.clock import now_iso
from execution_api.core.container import per_container
from execution_api.core.errors import ExecutionAlreadyFinished, ExecutionNotFound, check_execution_id
from execution_api.core.observability import logger
from execution_api.engine import outcomes
from execution_api.engine.messages import JOB_DEPENDENCY_FAILED, JOB_NOT_FOUND, JOB_NOT_RUN, GateAnswer
from execution_api.engine.outcomes import DEPENDENCY_FAILED
from execution_api.engine.params import output_url, params_text, resolve_references
from execution_api.engine.settings import EngineSettings, engine_settings
from execution_api.engine.step_functions import StepFunctions, state_machine_execution_arn, state_machine_execution_name
from execution_api.models.records import UNFINISHED_STATES, Job
from execution_api.storage.jobs import JobStore
from execution_api.storage.keys import execution_of, execution_pk


def topological_order(jobs: Sequence[Job]) -> list[str]:
    """Job ids so that every job comes after its in-plan dependencies; ties in plan order. The Map runs
    iterations in this order, so a job waiting on its gate never holds a slot its dependency needs."""
    position = {job.id: job.position for job in jobs}
    waiting = dict.fromkeys(position, 0)
    dependents: dict[str, list[str]] = {job_id: [] for job_id in position}
    for job in jobs:
        for dependency in job.in_plan_dependencies:
            if dependency in position:
                waiting[job.id] += 1
                dependents[dependency].append(job.id)
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
        jobs = self._store.jobs_of(pk)
        order = topological_order(jobs)
        dependents: dict[str, list[str]] = {job_id: [] for job_id in order}
        for job in jobs:
            for dependency in job.in_plan_dependencies:
                dependents.get(dependency, []).append(job.id)
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
        if execution is not None and execution.status == "cancelled":
            self._sfn.stop(arn, "cancelled before it started")  # the cancel ran before this start existed
            return None
        return arn

    # ---- gates ----
    def gate(self, tenant_id: str, execution_id: str, job_id: str, token: str) -> None:
        """Answer at once when every in-plan dependency is done (or one failed); else park the token for the
        completion of the last dependency. Both sides are single-item atomic writes: no race loses a gate."""
        pk = execution_pk(tenant_id, execution_id)
        for _ in range(3):  # a condition failure means the item just changed: look again
            job = self._store.job(pk, job_id)
            if job is None:
                self._sfn.fail(token, JOB_NOT_FOUND, f"no job {job_id}")
                return
            if job.status == "processing" and job.gate_token == token:
                self._release(pk, job, token)  # a redelivered gate message: same answer again
                return
            if job.status != "pending":
                self._sfn.fail(token, JOB_NOT_RUN, f"the job is {job.status}")
                return
            failed = job.failed_dependency
            if failed is not None:
                self._fail_and_propagate(pk, job_id, DEPENDENCY_FAILED.format(failed), ("pending",))
                self._sfn.fail(token, JOB_DEPENDENCY_FAILED, DEPENDENCY_FAILED.format(failed))
                return
            dependencies = job.in_plan_dependencies
            if len(job.done_dependencies) >= len(dependencies):
                self._release(pk, job, token)
                return
            if self._store.store_gate_token(pk, job_id, token, len(dependencies)):
                return  # the last dependency's completion answers this token
        raise RuntimeError(f"gate of {job_id} kept changing; the message will be retried")

    def _release(self, pk: str, job: Job, token: str) -> None:
        """Open a job's gate: mark it processing and hand Step Functions the job with its inputs resolved."""
        if not self._store.mark_processing(pk, job.id, token, self._now()):
            current = self._store.job(pk, job.id)
            status = current.status if current else None
            if status in ("failed", "cancelled"):
                self._sfn.fail(token, JOB_NOT_RUN, f"the job is {status}")
            return
        self._sfn.succeed(token, self.job_message(pk, job))

    def job_message(self, pk: str, job: Job) -> dict[str, Any]:
        """The gate's answer (engine/messages.py's GateAnswer): the job as a worker gets it, params with each
        dependency reference replaced by the output url."""
        urls: dict[str, str | None] = {}
        for job_id, dependency in self._store.results(pk, job.in_plan_dependencies).items():
            urls[job_id] = output_url(dependency.result)
        if job.base_depends_on:
            execution = self._store.execution(pk)
            if execution is not None and execution.base_execution_id:
                base_pk = execution_pk(execution.tenant_id, execution.base_execution_id)
                for job_id, dependency in self._store.results(base_pk, job.base_depends_on).items():
                    urls[job_id] = output_url(dependency.result)
        tenant_id, execution_id = execution_of(pk)
        return GateAnswer(
            tenantId=tenant_id,
            executionId=execution_id,
            id=job.id,
            operation=job.operation,
            paramsJson=params_text(resolve_references(job.params, urls)),
            # In dependsOn order: a media operation whose params name no input works on the first one.
            dependencies={d: urls[d] for d in job.depends_on if d in urls},
            queueUrl=self._settings.queue_url(job.operation, job.params),  # RunJob sends the job there
            timeoutSeconds=self._settings.job_timeout(job.operation, job.params),  # and waits this long for it
            output=job.output,
        ).wire()

    # ---- outcomes ----
    def completed(self, tenant_id: str, execution_id: str, job_id: str, result: Any, token: str) -> None:
        """Record a job's result once, then count it done for each dependent and open the gates whose last
        dependency it was. Every step is idempotent, so a redelivered message repeats them harmlessly."""
        pk = execution_pk(tenant_id, execution_id)
        self._store.complete_job(pk, job_id, outcomes.result_shape(result), self._now())
        job = self._store.job(pk, job_id)
        if job is not None and job.status == "completed":
            for dependent_id in job.dependents:
                dependent = self._store.add_done_dependency(pk, dependent_id, job_id)
                token_waiting = dependent.gate_token
                if (
                    dependent.status == "pending"
                    and token_waiting is not None
                    and dependent.failed_dependency is None
                    and len(dependent.done_dependencies) >= len(dependent.in_plan_dependencies)
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
            job = self._store.job(pk, job_id)  # its own timeout, as its gate answer gave it
            if job is None:
                return "the job did not finish within its timeout"
            seconds = self._settings.job_timeout(job.operation, job.params)
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
            job = self._store.job(pk, current)
            if job is None or job.status != "failed":
                continue  # cancelled meanwhile: nothing to propagate
            for dependent_id in job.dependents:
                dependent = self._store.mark_failed_dependency(pk, dependent_id, current)
                token = dependent.gate_token
                if dependent.status == "pending" and token is not None:
                    reason = DEPENDENCY_FAILED.format(dependent.failed_dependency)
                    queue.append((dependent_id, reason, ("pending",)))
                    self._sfn.fail(token, JOB_DEPENDENCY_FAILED, reason)

    # ---- the end ----
    def finish(self, tenant_id: str, execution_id: str, token: str) -> str | None:
        """Write the execution's outcome from its jobs; jobs still unfinished here never ran."""
        pk = execution_pk(tenant_id, execution_id)
        status = self.conclude(pk, "not run: the execution stopped before the job started")
        self._sfn.succeed(token, {"status": status})
        return status

    def conclude(self, pk: str, unfinished_error: str) -> str | None:
        """End an unfinished execution with its jobs' outcome; the jobs still unfinished never ran and fail with
        `unfinished_error`. Returns the execution's status (as it was, when it had ended already)."""
        status, jobs = self._unfinished_run(pk)
        if jobs is None:
            return status
        now = self._now()
        ended = [self._fail_if_unfinished(pk, job, unfinished_error, now) for job in jobs]
        status, result, error = outcomes.execution_outcome(ended)
        self._store.finish_execution(pk, status, result, error, now)
        return status

    def _time_out(self, pk: str, reason: str) -> None:
        """Step Functions timed the run out: its unfinished jobs and the execution fail with `reason`."""
        _, jobs = self._unfinished_run(pk)
        if jobs is None:
            return
        now = self._now()
        for job in jobs:
            self._fail_if_unfinished(pk, job, reason, now)
        self._store.finish_execution(pk, "failed", None, reason, now)

    def _abort(self, pk: str) -> None:
        """The run was stopped (not by a cancel, which ends the execution first): the execution and its
        unfinished jobs are cancelled."""
        _, jobs = self._unfinished_run(pk)
        if jobs is None:
            return
        now = self._now()
        for job in jobs:
            if job.status in UNFINISHED_STATES:
                self._store.cancel_job(pk, job.id, now)
        self._store.cancel_execution(pk, now)

    def _unfinished_run(self, pk: str) -> tuple[str | None, list[Job] | None]:
        """The execution's status and, while it is unfinished, its jobs in plan order (None: nothing to end)."""
        execution, jobs = self._store.execution_and_jobs(pk)
        if execution is None or execution.status not in UNFINISHED_STATES:
            return (execution.status if execution else None), None
        return execution.status, sorted(jobs, key=attrgetter("position"))

    def _fail_if_unfinished(self, pk: str, job: Job, error: str, now: str) -> Job:
        """The job as it ends: failed with `error` if it was still unfinished."""
        if job.status not in UNFINISHED_STATES:
            return job
        self._store.fail_job(pk, job.id, error, now, UNFINISHED_STATES)
        return replace(job, status="failed", error=error)

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
            self._time_out(pk, reason)
        elif status == "ABORTED":
            self._abort(pk)
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
        now, predictions = self._now(), []  # one moment for the execution and its jobs
        if not self._store.cancel_execution(pk, now):
            raise ExecutionAlreadyFinished((self._store.execution(pk) or execution).status)
        if self._settings.state_machine_arn:
            name = state_machine_execution_name(tenant_id, execution_id)
            self._sfn.stop(state_machine_execution_arn(self._settings.state_machine_arn, name), "cancelled")
        for job in self._store.jobs_of(pk):
            if job.status in UNFINISHED_STATES:
                self._store.cancel_job(pk, job.id, now)
                if job.gate_token is not None and job.status == "pending":
                    # Stale on AWS once the run is stopped; engines that let waits run out (moto) end sooner.
                    self._sfn.fail(job.gate_token, "Execution.Cancelled", "the execution was cancelled")
                if job.prediction_ref:
                    predictions.append(job.prediction_ref)
        return predictions


@per_container
def engine() -> Engine:
    """One per Lambda container, made on first use."""
    settings = engine_settings()
    return Engine(JobStore(engine_dynamodb_client(), settings.executions_table_name), stepfunctions_client(), settings)
