"""Idempotency-Key (IETF draft "The Idempotency-Key HTTP Header Field") on Powertools' Idempotency utility.

A key is scoped to its tenant. The first 202 is remembered for 24 hours and replayed as it was;
the same key with another body is refused; a request still running blocks its duplicates. A
request that fails (4xx or 5xx) leaves no record, as Powertools does on an exception, so the
client may fix the plan or retry with the same key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from execution_api.core.aws_clients import dynamodb_client
from execution_api.core.container import per_container
from execution_api.core.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    StorageUnavailable,
)
from execution_api.core.limits import MAX_IDEMPOTENCY_KEY_LENGTH
from execution_api.core.observability import logger
from execution_api.core.settings import SubmitSettings, load_settings

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VISIBLE_ASCII = re.compile(rf"[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}")
_REPLAYED = "replayed"


def idempotency_key(event: Mapping[str, Any]) -> str | None:
    """The key from an API Gateway event, header names case-insensitive; None when absent. The draft
    sends it as a structured-field string ("abc"); the bare form (abc) most clients send is fine too.
    Sent more than once (API Gateway passes each in multiValueHeaders): refused, whatever the values."""
    name = HEADER.lower()
    values = [v for k, vs in (event.get("multiValueHeaders") or {}).items() if k.lower() == name for v in vs or ()]
    if not values:
        values = [v for k, v in (event.get("headers") or {}).items() if k.lower() == name]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey(f"send one {HEADER} header, not {len(values)}")
    value = values[0]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _VISIBLE_ASCII.fullmatch(value):
        raise InvalidIdempotencyKey(f"{HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters")
    return str(value)


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, _REPLAYED: True}


# One configuration (and so one persistence layer, which keeps its first configuration) per container.
CONFIG = IdempotencyConfig(
    event_key_jmespath="[tenant, key]",  # the tenant is part of the key: tenants never see each other's replays
    payload_validation_jmespath="body",
    expires_after_seconds=24 * 60 * 60,
    hash_function="sha256",
    response_hook=_mark_replayed,
)


@per_container
def _store() -> DynamoDBPersistenceLayer:
    table = load_settings(SubmitSettings).idempotency_table_name
    return DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb_client())


def run_once(
    tenant: str,
    key: str,
    body: Any,
    operation: Callable[[], dict[str, Any]],
    persistence: BasePersistenceLayer | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run `operation` once per (tenant, key) and body; returns its result and whether it was a replay.
    The records go to the idempotency table unless `persistence` says otherwise (unit tests)."""

    done: list[dict[str, Any]] = []

    def submit_execution(submission: dict[str, Any]) -> dict[str, Any]:
        done.append(operation())
        return done[0]

    once = idempotent_function(
        submit_execution,
        data_keyword_argument="submission",
        persistence_store=persistence or _store(),
        config=CONFIG,
        key_prefix="submit-execution",  # stable: records outlive a renamed or replaced function
    )
    try:
        result: dict[str, Any] = once(submission={"tenant": tenant, "key": key, "body": body})
    except IdempotencyValidationError as error:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different body; use a new key for a new request"
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise IdempotencyKeyInFlight(
            "a request with this Idempotency-Key is still being processed; retry shortly to get its answer"
        ) from error
    except IdempotencyInconsistentStateError as error:  # a record caught mid-expiry: retrying helps
        raise StorageUnavailable("idempotency record in flux") from error
    except IdempotencyPersistenceLayerError as error:
        if not done:  # the idempotency table throttled or unreachable
            raise StorageUnavailable("the idempotency table is unavailable") from error
        # The execution is stored, only its record could not be completed: answer the truth. A retry
        # with this key then waits out the record's in-progress time (409) before running again.
        logger.warning("execution stored but its idempotency record could not be completed", exc_info=True)
        return done[0], False
    replayed = bool(result.pop(_REPLAYED, False))
    return result, replayed
