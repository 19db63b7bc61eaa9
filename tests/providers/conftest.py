"""The provider executor, the checker, the callback service and the poller wired to moto (the template's
table, key and bucket) and to the local provider fakes of tests/providers/fakes.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from local.stack import LocalDeployment
from tests.providers.fakes import ElevenLabsFake, FalFake, ReplicateFake, serving

if TYPE_CHECKING:  # imported by the fixture: Powertools reads its settings when execution_api.core.observability is
    # imported, and this conftest is imported before the root conftest puts the template's settings in place.
    from execution_api.core.sealing import ProviderKeyCipher
    from execution_api.engine.executors import JobRequest
    from execution_api.providers.callbacks import CallbackService
    from execution_api.providers.checker import PredictionChecker
    from execution_api.providers.executor import ProviderExecutor
    from execution_api.providers.settings import ProviderSettings
    from execution_api.storage.predictions import PredictionStore
    from execution_api.storage.provider_keys import ProviderKeyStore

TOKEN = "task-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


class FakeStepFunctions:
    """Records what the task token is answered with; `stale` makes it answer as a stopped run does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stale = False

    def _record(self, name: str, **kwargs: Any) -> None:
        if self.stale:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "x"}}, name)
        self.calls.append((name, kwargs))

    def send_task_success(self, **kwargs: Any) -> None:
        self._record("success", **kwargs)

    def send_task_failure(self, **kwargs: Any) -> None:
        self._record("failure", **kwargs)

    def send_task_heartbeat(self, **kwargs: Any) -> None:
        self._record("heartbeat", **kwargs)

    def answered(self) -> list[tuple[str, dict[str, Any]]]:
        """The answers, without the heartbeats every check sends."""
        return [(name, kwargs) for name, kwargs in self.calls if name != "heartbeat"]

    def answers(self) -> list[str]:
        return [name for name, _ in self.calls if name != "heartbeat"]


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    stack: LocalDeployment
    replicate: ReplicateFake
    fal: FalFake
    elevenlabs: ElevenLabsFake
    settings: ProviderSettings
    executor: ProviderExecutor
    checker: PredictionChecker
    callbacks: CallbackService
    predictions: PredictionStore
    key_store: ProviderKeyStore
    key_cipher: ProviderKeyCipher
    sfn: FakeStepFunctions
    clock: Clock
    enqueued: list[str]
    sleeps: list[float]
    job_statuses: dict[str, str]  # only for the harness's own jobs (`job()`), which have no job item to read
    deployment_keys: dict[str, str]
    local_runs: list[JobRequest]

    @property
    def s3(self) -> Any:
        return boto3.client("s3", region_name="us-east-1")

    @property
    def table(self) -> str:
        return self.stack.names["ExecutionsTable"]

    def job(self, operation: str, params: dict[str, Any], keys: dict[str, str] | None = None, **kw: Any) -> JobRequest:
        from execution_api.engine.executors import JobRequest

        return JobRequest(
            "exec-1", kw.get("job_id", "job1"), operation, params, 1, keys or {}, "tenant-a",
            tuple(kw.get("dependencies", ())), TOKEN,
        )  # fmt: skip

    def object(self, url: str) -> bytes:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=self.table)[
            "Items"
        ]
        return items


@pytest.fixture
def providers(aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    from execution_api.core.sealing import CredentialCipher, ProviderKeyCipher
    from execution_api.engine.step_functions import StepFunctions
    from execution_api.providers.callbacks import CallbackService
    from execution_api.providers.checker import PredictionChecker, job_credentials, stored_job_status
    from execution_api.providers.executor import ProviderExecutor, prediction_client, tenant_key_reader
    from execution_api.providers.settings import ProviderSettings
    from execution_api.providers.signatures import FalKeys
    from execution_api.providers.transport import Transport
    from execution_api.storage.jobs import JobStore
    from execution_api.storage.predictions import PredictionStore
    from execution_api.storage.provider_keys import ProviderKeyStore

    with serving(ReplicateFake()) as rep, serving(FalFake()) as fal, serving(ElevenLabsFake()) as eleven:
        assert isinstance(rep, ReplicateFake)
        assert isinstance(fal, FalFake)
        assert isinstance(eleven, ElevenLabsFake)
        environment = {
            **os.environ,
            "ALLOW_INSECURE_INPUTS": "true",  # the fakes' files are on http://127.0.0.1
            "REPLICATE_API_URL": f"{rep.base}/v1",
            "FAL_QUEUE_URL": fal.base,
            "FAL_JWKS_URL": f"{fal.base}/.well-known/jwks.json",
            "ELEVENLABS_API_URL": eleven.base,
            "PROVIDER_CALLBACK_BASE_URL": "https://api.example.com/prod",
            "LOCAL_PROVIDERS": "false",
        }
        settings = ProviderSettings.model_validate(environment)
        kms = boto3.client("kms", region_name="us-east-1")
        cipher = CredentialCipher(kms, environment["CREDENTIAL_KEY_ID"])
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        clock = Clock()
        predictions = PredictionStore(dynamodb, settings.executions_table_name, clock=clock)
        key_store = ProviderKeyStore(dynamodb, settings.executions_table_name)
        key_cipher = ProviderKeyCipher(kms, environment["CREDENTIAL_KEY_ID"])
        sleeps: list[float] = []
        sfn = FakeStepFunctions()
        enqueued: list[str] = []
        statuses: dict[str, str] = {}
        deployment_keys: dict[str, str] = {}
        local_runs: list[JobRequest] = []

        def transport(provider: str, key: str, heartbeat: Any = lambda: None) -> Transport:
            return Transport(provider, key, sleep=sleeps.append, heartbeat=heartbeat, timeout_seconds=5)

        class Local:
            def run(self, job: JobRequest, heartbeat: Any) -> dict[str, Any]:
                local_runs.append(job)
                return {"status": "completed", "outputs": [], "metadata": {"provider": "local"}}

        s3 = boto3.client("s3", region_name="us-east-1")
        executor = ProviderExecutor(
            settings, s3, cipher, predictions, tenant_key_reader(key_store, key_cipher),
            deployment_keys.get, Local, transport,
        )  # fmt: skip
        jobs = JobStore(dynamodb, settings.executions_table_name)
        stored_status = stored_job_status(jobs)  # what the deployed checker reads: a cancel must mark the job
        checker = PredictionChecker(
            settings, predictions, cipher, StepFunctions(sfn), s3,
            lambda pk, job_id: stored_status(pk, job_id) or statuses.get(job_id),
            lambda provider, key: prediction_client(provider, transport(provider, key), settings),
            job_credentials(jobs, cipher),
        )  # fmt: skip
        import urllib3

        fal_keys = FalKeys(lambda: urllib3.request("GET", settings.fal_jwks_url).data)
        callbacks = CallbackService(predictions, cipher, fal_keys, enqueued.append)
        yield Harness(
            aws, rep, fal, eleven, settings, executor, checker, callbacks, predictions, key_store, key_cipher,
            sfn, clock, enqueued, sleeps, statuses, deployment_keys, local_runs,
        )  # fmt: skip
