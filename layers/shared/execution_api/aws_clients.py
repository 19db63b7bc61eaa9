"""boto3 clients, made once per Lambda container on first use (creating one costs milliseconds)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from execution_api.container import per_container

# Standard retry mode: exponential backoff with jitter on throttling and 5xx, 3 attempts in all;
# short timeouts (a DynamoDB call takes milliseconds) so a stuck call fails well inside the Lambda
# timeout and the client gets the function's 503, not API Gateway's timeout.
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=1,
    read_timeout=2,
    tcp_keepalive=True,
)


@per_container
def dynamodb_client() -> Any:
    return boto3.client("dynamodb", config=_CLIENT_CONFIG)


@per_container
def kms_client() -> Any:
    return boto3.client("kms", config=_CLIENT_CONFIG)


@per_container
def sqs_client() -> Any:
    return boto3.client("sqs", config=_CLIENT_CONFIG)
