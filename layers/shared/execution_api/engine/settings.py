"""The engine's settings, one class per function that reads them (as in execution_api.core.settings); its AWS
clients are execution_api.core.aws_clients'."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from execution_api.core.operations import executor_of, runs_on_media_worker
from execution_api.core.settings import ApiSettings, FunctionSettings, load_settings
from execution_api.engine.executors import MAX_SIMULATED_MS


class EngineSettings(FunctionSettings):
    """The engine function's (gates, outcomes): it never starts nor stops a run, so needs no state machine."""

    state_machine_arn: str | None = Field(default=None, alias="STATE_MACHINE_ARN")
    # Inline Map runs at most 40 iterations at once.
    max_parallel_jobs: int = Field(default=10, alias="MAX_PARALLEL_JOBS", ge=1, le=40)
    job_timeout_seconds: int = Field(default=900, alias="JOB_TIMEOUT_SECONDS", ge=1)
    # A provider's prediction (a long video) may take longer than other jobs: its RunJob waits this long.
    provider_job_timeout_seconds: int = Field(default=3600, alias="PROVIDER_JOB_TIMEOUT_SECONDS", ge=1)
    job_heartbeat_seconds: int = Field(default=300, alias="JOB_HEARTBEAT_SECONDS", ge=1)
    execution_timeout_seconds: int = Field(default=21_600, alias="EXECUTION_TIMEOUT_SECONDS", ge=1)
    # At most the simulated executor's bound on simulate.ms (15 minutes): a worker could not wait longer.
    simulated_job_ms: int = Field(default=500, alias="SIMULATED_JOB_MS", ge=0, le=MAX_SIMULATED_MS)
    # Routing (execution_api.core.operations): the engine names each job's queue in its gate answer.
    work_queue_url: str | None = Field(default=None, alias="WORK_QUEUE_URL")
    media_queue_url: str | None = Field(default=None, alias="MEDIA_QUEUE_URL")
    # AllowedOperations' own queue (empty: none, and their jobs go to the work queue, whose worker fails them)
    custom_queue_url: str = Field(default="", alias="CUSTOM_QUEUE_URL")
    simulated_executor: bool = Field(default=False, alias="SIMULATED_EXECUTOR")
    local_providers: bool = Field(default=False, alias="LOCAL_PROVIDERS")

    def queue_url(self, operation: str, params: dict[str, Any]) -> str:
        """The queue whose workers run this job (docs/engine.md, "Routing")."""
        executor = executor_of(operation, params, simulated_executor=self.simulated_executor)
        if executor == "custom" and self.custom_queue_url:
            return self.custom_queue_url
        media = runs_on_media_worker(
            operation, params, simulated_executor=self.simulated_executor, local_providers=self.local_providers
        )
        url = self.media_queue_url if media else self.work_queue_url
        if not url:
            raise RuntimeError(f"{'MEDIA' if media else 'WORK'}_QUEUE_URL is not configured")
        return url

    def job_timeout(self, operation: str, params: dict[str, Any]) -> int:
        """The job's RunJob timeout (the gate answer's timeoutSeconds): PROVIDER_JOB_TIMEOUT_SECONDS for a job on
        the provider executor, which may wait on a prediction; JOB_TIMEOUT_SECONDS for any other."""
        provider = executor_of(operation, params, simulated_executor=self.simulated_executor) == "providers"
        return self.provider_job_timeout_seconds if provider else self.job_timeout_seconds

    def state_machine_input_config(self) -> dict[str, int]:
        """What the definition reads with its *Path fields (each job's timeout comes with its gate answer)."""
        # Step Functions wants the heartbeat below the timeout: below the shorter of the two a job may have.
        shortest = min(self.job_timeout_seconds, self.provider_job_timeout_seconds)
        return {
            "maxParallelJobs": self.max_parallel_jobs,
            "heartbeatSeconds": max(1, min(self.job_heartbeat_seconds, shortest - 1)),
        }


class GateSettings(EngineSettings):
    """The engine function answers gates with each job's queue: both queues must be known."""

    work_queue_url: str = Field(alias="WORK_QUEUE_URL", min_length=1)
    media_queue_url: str = Field(alias="MEDIA_QUEUE_URL", min_length=1)


class StarterSettings(EngineSettings):
    """The starter starts one run of this state machine per execution."""

    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN", min_length=1)


class CancelSettings(ApiSettings, StarterSettings):
    """POST /api/execute/{id}/cancel: an API route that stops the execution's run, and has a worker look at once
    at each provider prediction its cancelled jobs still run (the worker cancels it at the provider)."""

    work_queue_url: str = Field(alias="WORK_QUEUE_URL", min_length=1)


class WorkerSettings(EngineSettings):
    """The worker opens the credentials sealed at intake with this key."""

    credential_key_id: str = Field(alias="CREDENTIAL_KEY_ID", min_length=1)


def engine_settings() -> EngineSettings:
    return load_settings(EngineSettings)
