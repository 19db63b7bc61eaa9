"""The provider pieces built once per container from the environment and the AWS clients: the executor
(workers), the checker (workers, for `{"prediction": ref}` messages), the callback service and the poller."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from execution_api.core.aws_errors import is_retryable
from execution_api.core.container import per_container
from execution_api.core.observability import logger
from execution_api.core.sealing import CredentialCipher, ProviderKeyCipher
from execution_api.core.settings import load_settings
from execution_api.engine.executors import Executor, JobFailed
from execution_api.providers.callbacks import CallbackService
from execution_api.providers.checker import PredictionChecker, job_credentials, stored_job_status
from execution_api.providers.checks import check_message
from execution_api.providers.executor import ProviderExecutor, prediction_client, tenant_key_reader
from execution_api.providers.keys import environment_key
from execution_api.providers.settings import PredictionSettings, ProviderSettings
from execution_api.providers.signatures import FalKeys
from execution_api.providers.transport import Transport
from execution_api.storage.predictions import PredictionStore
from execution_api.storage.provider_keys import ProviderKeyStore


def _settings() -> ProviderSettings:
    """The workers' (they also store outputs): every provider setting."""
    return load_settings(ProviderSettings)


def _common() -> PredictionSettings:
    """What the callback route and the poller have too."""
    return load_settings(PredictionSettings)


@per_container
def _cipher() -> CredentialCipher:
    from execution_api.core.aws_clients import kms_client

    return CredentialCipher(kms_client(), _common().credential_key_id)


@per_container
def _predictions() -> PredictionStore:
    from execution_api.core.aws_clients import engine_dynamodb_client

    return PredictionStore(engine_dynamodb_client(), _common().executions_table_name)


@per_container
def _deployment_keys() -> Any:
    """The deployment's key of a provider: with LocalProviders on (make run) the shell's REPLICATE_API_TOKEN /
    FAL_KEY / ELEVENLABS_API_KEY first; then, on AWS, its Secrets Manager secret (a plain string, or JSON
    {"apiKey"}), read once per container and only when a job reaches it. A local backend (AWS_ENDPOINT_URL
    set: make run) is not asked: ministack has no Secrets Manager, and nobody keeps keys there."""

    @cache
    def read(provider: str) -> str | None:
        if _settings().local_providers and (found := environment_key(provider, os.environ)):
            return found
        if os.environ.get("AWS_ENDPOINT_URL"):
            return None
        name = _settings().secret_name(provider)
        if not name:
            return None
        import boto3

        client = boto3.client("secretsmanager")
        try:
            value = str(client.get_secret_value(SecretId=name)["SecretString"]).strip()
        except client.exceptions.ResourceNotFoundException:
            return None  # this deployment keeps no key of its own for the provider
        except ClientError as error:
            if is_retryable(error):
                raise  # throttled or unavailable: the worker retries the attempt
            # Denied, a key that cannot decrypt it, ...: no retry helps, an operator must act (the code is logged).
            code = error.response.get("Error", {}).get("Code")
            logger.error("deployment key unreadable", extra={"secret": name, "code": code})
            raise JobFailed(
                f"this deployment's {provider} key could not be read; an operator must check its Secrets Manager"
                " secret and the worker's permission to read it (the worker's log names the secret)"
            ) from None
        if value.startswith("{"):
            found = json.loads(value).get("apiKey")
            return str(found) if found else None
        return value or None

    return read


@per_container
def provider_executor() -> ProviderExecutor:
    from execution_api.core.aws_clients import engine_dynamodb_client, kms_client, s3_client
    from execution_api.engine.media_executor import media_executor

    settings = _settings()
    keys = tenant_key_reader(
        ProviderKeyStore(engine_dynamodb_client(), settings.executions_table_name),
        ProviderKeyCipher(kms_client(), settings.credential_key_id),
    )

    def local() -> Executor:
        executor: Executor = media_executor()
        return executor

    return ProviderExecutor(settings, s3_client(), _cipher(), _predictions(), keys, _deployment_keys(), local)


@per_container
def prediction_checker() -> PredictionChecker:
    from execution_api.core.aws_clients import (
        engine_dynamodb_client,
        s3_transfer_client,  # upload_file: provider videos can be large
        stepfunctions_client,
    )
    from execution_api.engine.step_functions import StepFunctions
    from execution_api.storage.jobs import JobStore

    settings = _settings()
    jobs = JobStore(engine_dynamodb_client(), settings.executions_table_name)
    return PredictionChecker(
        settings,
        _predictions(),
        _cipher(),
        StepFunctions(stepfunctions_client()),
        s3_transfer_client(),
        stored_job_status(jobs),
        lambda provider, key: prediction_client(provider, Transport(provider, key), settings),
        job_credentials(jobs, _cipher()),
    )


def enqueue_check(ref: str) -> None:
    """A `{"prediction": ref}` message on the work queue: a worker settles the prediction."""
    from execution_api.core.aws_clients import sqs_client

    sqs_client().send_message(QueueUrl=_common().work_queue_url, MessageBody=check_message(ref))


@per_container
def callback_service() -> CallbackService:
    import urllib3

    settings = _common()

    def jwks() -> bytes:
        reply = urllib3.request("GET", settings.fal_jwks_url, timeout=5, redirect=False, retries=False)
        if reply.status != 200:
            raise RuntimeError(f"fal's JWKS answered HTTP {reply.status}")
        return bytes(reply.data)

    return CallbackService(_predictions(), _cipher(), FalKeys(jwks), enqueue_check)


def predictions() -> PredictionStore:
    return _predictions()
