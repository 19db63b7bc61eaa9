"""AWS clients, made once per Lambda container on first use (creating one costs milliseconds).

botocore's own session makes them: the same clients boto3.client returns, without importing boto3 and the
s3transfer it loads (tens of milliseconds of the API functions' cold import; docs/deployment.md)."""

from __future__ import annotations

import os
from typing import Any

import botocore.session
from botocore.config import Config

from execution_api.container import per_container


@per_container
def session() -> botocore.session.Session:
    """One botocore session per container (it caches the service models the clients load)."""
    return botocore.session.get_session()


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
def dynamodb_client() -> Any:
    return session().create_client("dynamodb", config=client_config())


@per_container
def kms_client() -> Any:
    return session().create_client("kms", config=client_config())


@per_container
def sqs_client() -> Any:
    return session().create_client("sqs", config=client_config())
