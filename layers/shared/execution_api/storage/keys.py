"""The executions table's keys (docs/data-model.md): an execution and its jobs share one partition key, which
names the tenant, so one tenant's request can never address another's items.

  pk = TENANT#<tenantId>#EXECUTION#<executionId>
  sk = EXECUTION          the execution item
  sk = JOB#<jobId>        one item per job
"""

from __future__ import annotations

from typing import Any

EXECUTION_SK = "EXECUTION"
JOB_SK_PREFIX = "JOB#"
PENDING_PK = "PENDING_SUBMISSION"  # markers of multi-transaction submissions still being written
_TENANT = "TENANT#"
_EXECUTION = "#EXECUTION#"


def execution_pk(tenant_id: str, execution_id: str) -> str:
    return f"{_TENANT}{tenant_id}{_EXECUTION}{execution_id}"


def execution_of(pk: str) -> tuple[str, str]:
    """(tenant id, execution id) of an execution's partition key; ValueError for any other key. Neither id
    holds a `#` (intake's and the authorizer's rules), so the split is unambiguous."""
    tenant_id, separator, execution_id = pk.removeprefix(_TENANT).partition(_EXECUTION)
    if not pk.startswith(_TENANT) or not separator or not tenant_id or not execution_id:
        raise ValueError("not an execution's partition key")
    return tenant_id, execution_id


def job_sk(job_id: str) -> str:
    return JOB_SK_PREFIX + job_id


def job_id_of(sk: str) -> str | None:
    """The job id of a job item's sort key; None for the execution item's."""
    return sk[len(JOB_SK_PREFIX) :] if sk.startswith(JOB_SK_PREFIX) else None


def item_key(pk: str, sk: str) -> dict[str, Any]:
    """An item's key as DynamoDB's low-level API takes it."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def keys_of(item: dict[str, Any]) -> tuple[str, str]:
    """(pk, sk) of an item as DynamoDB's low-level API returns it (a scan's, in the benchmarks)."""
    return item["pk"]["S"], item["sk"]["S"]
