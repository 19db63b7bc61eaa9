"""Which AWS failures are "try again later" (503 with Retry-After) and which are a bug (500): pure, no AWS."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from execution_api.core.aws_errors import is_retryable


def client_error(code: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "detail"}, **extra}, "TransactWriteItems")


@pytest.mark.parametrize(
    "error",
    [
        client_error("ThrottlingException"),
        client_error("ProvisionedThroughputExceededException"),
        client_error("InternalServerError"),
        client_error("KMSInternalException"),
        client_error(
            "TransactionCanceledException", CancellationReasons=[{"Code": "None"}, {"Code": "TransactionConflict"}]
        ),
        client_error("TransactionCanceledException", CancellationReasons=[{"Code": "ConditionalCheckFailed"}]),
        # What DynamoDB answers (ministack too; moto ignores the token) when a fresh execution id collides with one
        # written less than 10 minutes ago: the transaction's ClientRequestToken <executionId>-<n> is reused with
        # other items. A retry draws a new id, so it is a 503, not a 500.
        client_error("IdempotentParameterMismatchException"),
        ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ],
    ids=[
        "throttling",
        "throughput",
        "5xx",
        "kms-5xx",
        "conflict",
        "collision",
        "collision-within-10-minutes",
        "timeout",
    ],
)
def test_a_failure_that_a_retry_overcomes_is_retryable(error: Exception) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        client_error("ValidationException"),
        client_error("ResourceNotFoundException"),
        client_error("AccessDeniedException"),
        client_error("TransactionCanceledException", CancellationReasons=[{"Code": "ValidationError"}]),
        KeyError("not an AWS error"),
    ],
    ids=["validation", "no-table", "access-denied", "item-too-large", "bug"],
)
def test_a_failure_that_a_retry_repeats_is_not(error: Exception) -> None:
    assert not is_retryable(error)
