"""AWS clients, made once per Lambda container on first use (creating one costs milliseconds).

botocore's own session makes them: the same clients boto3.client returns, without importing boto3 and the
s3transfer it loads (tens of milliseconds of the API functions' cold import; docs/deployment.md)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config

from execution_api.core.container import per_container


@cache
def service_models() -> botocore.loaders.Loader:
    """botocore's reader of the service models (its JSON files), kept for the life of the process, not
    forgotten with the container's settings: the models never change, and reading DynamoDB's takes about
    100 ms, which make run and the tests would otherwise pay again each time they reset the caches."""
    return botocore.loaders.create_loader()


@per_container
def session() -> botocore.session.Session:
    """One botocore session per container; its clients read the service models once per process."""
    session = botocore.session.get_session()
    session.register_component("data_loader", service_models())
    return session


@per_container
def client_config() -> Config:
    """Standard retry mode: exponential backoff with jitter on throttling and 5xx, 3 attempts in all;
    short timeouts (a DynamoDB call takes milliseconds) so a stuck call fails well inside the Lambda
    timeout and the client gets the function's 503, not API Gateway's timeout. make run raises the read
    timeout (CLIENT_READ_TIMEOUT_SECONDS): moto takes seconds to answer a 500-job Query."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=1,
        read_timeout=float(os.environ.get("CLIENT_READ_TIMEOUT_SECONDS") or 2),
        tcp_keepalive=True,
    )


@per_container
def engine_client_config() -> Config:
    """The engine's and the workers': more attempts and time than the API's, since no client is waiting and a
    lost call stalls a run. make run raises the read timeout (CLIENT_READ_TIMEOUT_SECONDS) for moto's slow
    large answers."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": 5},
        connect_timeout=2,
        read_timeout=float(os.environ.get("CLIENT_READ_TIMEOUT_SECONDS") or 5),
    )


@per_container
def dynamodb_client() -> Any:
    return session().create_client("dynamodb", config=client_config())


@per_container
def engine_dynamodb_client() -> Any:
    """The table for the engine and workers: the API's client has 2 s timeouts and 3 attempts to fit a 29 s
    request; the engine can wait longer."""
    return session().create_client("dynamodb", config=engine_client_config())


@per_container
def stepfunctions_client() -> Any:
    return session().create_client("stepfunctions", config=engine_client_config())


@per_container
def kms_client() -> Any:
    return session().create_client("kms", config=client_config())


@per_container
def sqs_client() -> Any:
    return session().create_client("sqs", config=client_config())


def s3_config() -> Config:
    """Uploads of large objects need a longer socket timeout than the table's calls. SigV4 always:
    presigned URLs need it in every region."""
    return Config(
        signature_version="s3v4",
        retries={"mode": "standard", "total_max_attempts": 5},
        connect_timeout=2,
        read_timeout=60,
    )


@per_container
def s3_client() -> Any:
    """Presigns output URLs (no call is made for that) and reads objects; botocore alone, like the others."""
    return session().create_client("s3", config=s3_config())


@per_container
def s3_transfer_client() -> Any:
    """The media worker's uploads: boto3's client, whose upload_file splits large files into parts."""
    import boto3  # only the workers that move media pay for boto3 and s3transfer

    return boto3.client("s3", config=s3_config())
