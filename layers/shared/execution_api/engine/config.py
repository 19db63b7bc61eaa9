"""The engine's settings and AWS clients, read once per Lambda container."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config
from pydantic import BaseModel, ConfigDict, Field

from execution_api.container import per_container


@per_container
def _client_config() -> Config:
    """More attempts and time than the API's clients: no client is waiting, and a lost call stalls a run.
    make run raises the read timeout (CLIENT_READ_TIMEOUT_SECONDS) for moto's slow large answers."""
    read_timeout = float(os.environ.get("CLIENT_READ_TIMEOUT_SECONDS") or 5)
    return Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=2, read_timeout=read_timeout)


class EngineSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    executions_table_name: str = Field(alias="EXECUTIONS_TABLE_NAME", min_length=1)
    state_machine_arn: str | None = Field(default=None, alias="STATE_MACHINE_ARN")
    # Inline Map runs at most 40 iterations at once.
    max_parallel_jobs: int = Field(default=10, alias="MAX_PARALLEL_JOBS", ge=1, le=40)
    job_timeout_seconds: int = Field(default=900, alias="JOB_TIMEOUT_SECONDS", ge=1)
    job_heartbeat_seconds: int = Field(default=300, alias="JOB_HEARTBEAT_SECONDS", ge=1)
    execution_timeout_seconds: int = Field(default=21_600, alias="EXECUTION_TIMEOUT_SECONDS", ge=1)
    simulated_job_ms: int = Field(default=500, alias="SIMULATED_JOB_MS", ge=0)

    def state_machine_input_config(self) -> dict[str, int]:
        """What the definition reads with its *Path fields."""
        return {
            "maxParallelJobs": self.max_parallel_jobs,
            "jobTimeoutSeconds": self.job_timeout_seconds,
            # Step Functions wants the heartbeat below the timeout.
            "heartbeatSeconds": max(1, min(self.job_heartbeat_seconds, self.job_timeout_seconds - 1)),
        }


@per_container
def engine_settings() -> EngineSettings:
    return EngineSettings.model_validate(dict(os.environ))


@per_container
def stepfunctions_client() -> Any:
    return boto3.client("stepfunctions", config=_client_config())


@per_container
def engine_dynamodb_client() -> Any:
    # Its own client: the API's has 2 s timeouts and 3 attempts for a 29 s request; the engine can wait longer.
    return boto3.client("dynamodb", config=_client_config())
