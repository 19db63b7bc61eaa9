"""The job worker: one work-queue message is one attempt of one job (protocol: docs/engine.md).
It claims the attempt on the job item (a redelivered message never runs a job twice), runs the job's
executor with heartbeats, and reports to Step Functions with the message's task token."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from execution_api.core.aws_errors import is_retryable
from execution_api.core.clock import now_iso
from execution_api.core.credentials import SEALED, credential_values, open_credentials, open_job_params, scrub
from execution_api.core.observability import logger
from execution_api.core.operations import GENERATION_OPERATIONS, runs_simulated
from execution_api.core.sealing import CredentialCipher
from execution_api.engine.executors import Executor, JobDeferred, JobFailed, JobRequest
from execution_api.engine.messages import JOB_FAILED, JOB_RETRYABLE, JobAttempt, WorkJob
from execution_api.engine.params import resolve_references
from execution_api.engine.selection import SelectedExecutor
from execution_api.engine.settings import EngineSettings
from execution_api.engine.step_functions import StepFunctions
from execution_api.storage.jobs import JobStore
from execution_api.storage.keys import execution_pk

UNEXPECTED = "the worker failed unexpectedly"
TRANSIENT = "the worker could not reach an AWS service"


class JobAbandoned(Exception):
    """The task token is stale (cancelled, timed out): stop working on the job."""


def executor_for(operation: str, settings: EngineSettings) -> Executor:
    """The executor of an operation family, chosen per job (params.simulate counts): simulated, media
    (ffmpeg and the local provider), or a failure naming what no worker runs; providers plug in here."""
    return SelectedExecutor(settings)


class Worker:
    def __init__(
        self,
        store: JobStore,
        stepfunctions: Any,
        settings: EngineSettings,
        executors: Callable[[str, EngineSettings], Executor] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        cipher: CredentialCipher | None = None,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._sfn = StepFunctions(stepfunctions)
        self._settings = settings
        self._executors = executors
        self._monotonic = monotonic

    def handle(self, message: JobAttempt) -> str:
        """Run one attempt; returns what happened (for logs and tests)."""
        job, token, attempt = message.job, message.task_token, message.attempt
        pk = execution_pk(job.tenant_id, job.execution_id)
        if not self._store.claim_attempt(pk, job.id, attempt, now_iso()):
            stored = self._store.job(pk, job.id)
            status = stored.status if stored else "gone"
            if status != "processing":  # cancelled or finished meanwhile: say so rather than stay silent
                self._sfn.fail(token, JOB_FAILED, f"the job is {status}")
                return "not running"
            logger.info("attempt already claimed: a redelivered message", extra={"attempt": attempt})
            return "skipped"
        heartbeat = self._heartbeat(token, message.heartbeat_seconds)
        opened: list[Any] = []  # every credential value opened for this job: no failure text may carry one
        try:
            request = self._request(pk, job, attempt, opened, token)
            executor = (self._executors or executor_for)(request.operation, self._settings)
            result = executor.run(request, heartbeat)
        except JobAbandoned:
            return "abandoned"
        except JobDeferred:
            return "deferred"  # a provider's callback or the poller answers the task token
        except JobFailed as failure:
            reason = scrub(failure.message, opened)[:32_000]
            self._sfn.fail(token, JOB_RETRYABLE if failure.retryable else JOB_FAILED, reason)
            return "failed"
        except Exception as error:
            # Only what is known to pass is retried (AWS throttling, a lost connection); anything else would
            # fail the same way again: one failed attempt, in plain words. Details stay in the log.
            trace = "".join(traceback.format_exception(error))  # scrubbed too: logs hold no credential either
            logger.error("executor failed unexpectedly", extra={"trace": scrub(trace, opened)})
            transient = is_retryable(error)
            self._sfn.fail(token, JOB_RETRYABLE if transient else JOB_FAILED, TRANSIENT if transient else UNEXPECTED)
            return "failed"
        self._sfn.succeed(token, result)
        return "completed"

    def _request(self, pk: str, job: WorkJob, attempt: int, opened_values: list[Any], token: str = "") -> JobRequest:
        """The job as the executor needs it: credentials sealed at intake opened here, by the worker alone,
        in the places the client put them (a place under a dependency reference key is found under its url,
        and a credential that is itself a reference is resolved like any other)."""
        params = job.params()
        keys: dict[str, str] = {}
        sealed_in_params = SEALED in job.params_json
        # A provider job needs options.providerApiKeys even when its params hold no credential of their own.
        simulated = runs_simulated(job.operation, params, simulated_executor=self._settings.simulated_executor)
        may_need_keys = job.operation in GENERATION_OPERATIONS and not simulated
        execution = self._store.execution(pk) if sealed_in_params or may_need_keys else None
        if execution is not None and execution.sealed_credentials is not None:
            if self._cipher is None:
                raise JobFailed("the worker has no key to open the job's credentials")
            opened = open_credentials(self._cipher, job.execution_id, execution.sealed_credentials)
            opened_values.extend(credential_values(opened))
            if sealed_in_params:
                stored = self._store.job(pk, job.id)
                sealed = stored.sealed_params if stored else {}
                urls = job.dependencies
                params = open_job_params(params, sealed, opened, lambda value: resolve_references(value, urls))
            keys = opened.provider_api_keys
        dependencies = tuple(url for url in job.dependencies.values() if url is not None)
        return JobRequest(
            job.execution_id, job.id, job.operation, params, attempt, keys, job.tenant_id, dependencies, token
        )

    def _heartbeat(self, token: str, heartbeat_seconds: float) -> Callable[[], None]:
        """A heartbeat for the executor to call as often as it likes; sent at most every third of the
        state's HeartbeatSeconds."""
        last = [self._monotonic()]

        def beat() -> None:
            if self._monotonic() - last[0] < heartbeat_seconds / 3:
                return
            last[0] = self._monotonic()
            if not self._sfn.heartbeat(token):
                raise JobAbandoned()

        return beat
