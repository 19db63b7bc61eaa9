"""Which AWS failures mean "try again later" (503 with Retry-After) rather than a bug (500)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from execution_api.core.errors import StorageUnavailable

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "LimitExceededException",
        "KMSInternalException",
        "KeyUnavailableException",
        "DependencyTimeoutException",
        "InternalServiceError",  # Secrets Manager's own 500
        # A transaction's ClientRequestToken (<executionId>-<n>) already used, within 10 minutes, for other
        # items: a fresh execution id collided with a recent one, which DynamoDB reports this way instead of
        # as ConditionalCheckFailed. A retry draws a new id.
        "IdempotentParameterMismatchException",
    }
)
# Cancellation reasons of a TransactWriteItems that a later attempt overcomes. ConditionalCheckFailed
# means a fresh execution id collided with a stored one: a retry draws a new id.
RETRYABLE_CANCELLATION_REASONS = frozenset(
    {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded", "ConditionalCheckFailed"}
)

NETWORK_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


def is_retryable(error: Exception) -> bool:
    """True when boto3's own retries are spent on a failure that is not the request's fault."""
    if isinstance(error, NETWORK_ERRORS):
        return True
    if not isinstance(error, ClientError):
        return False
    code = error.response.get("Error", {}).get("Code", "")
    if code in RETRYABLE_ERROR_CODES:
        return True
    if code == "TransactionCanceledException":
        reasons = {r.get("Code") for r in error.response.get("CancellationReasons", [])}
        return bool(reasons & RETRYABLE_CANCELLATION_REASONS)
    return False


def is_condition_failure(error: ClientError) -> bool:
    """True when a conditional write was refused: its condition did not hold (not a fault, an answer)."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def call(client: Any, operation: str, **kwargs: Any) -> Any:
    """One AWS call; a retryable failure becomes StorageUnavailable (503 with Retry-After)."""
    try:
        return getattr(client, operation)(**kwargs)
    except (ClientError, BotoCoreError) as error:
        if is_retryable(error):
            raise StorageUnavailable(f"{operation} failed after retries") from error
        raise
