"""The read behind GET /api/execute/{id}/status, apart from the submit path: the status function imports
this, not `execution_api.service`, so it loads no validation, idempotency, credentials or URL parsing."""

from __future__ import annotations

import re

from execution_api.aws_clients import dynamodb_client
from execution_api.errors import ExecutionNotFound
from execution_api.models.records import Execution, Job
from execution_api.repository import ExecutionRepository
from execution_api.settings import get_settings

EXECUTION_ID = re.compile(r"[A-Za-z0-9_-]{21}")  # nanoid's default size and URL-safe alphabet


def read_status(repository: ExecutionRepository, tenant_id: str, execution_id: str) -> tuple[Execution, list[Job]]:
    """The execution and its jobs in plan order, in one Query where the items fit its 1 MB page; the jobs'
    params are not decoded (no status shows them). ExecutionNotFound for an unknown or foreign id."""
    # A malformed id cannot exist: answer 404 without a read.
    found = repository.get(tenant_id, execution_id, with_params=False) if EXECUTION_ID.fullmatch(execution_id) else None
    if found is None:
        raise ExecutionNotFound(execution_id)
    return found


def execution_reader() -> ExecutionRepository:
    """The repository on the container's DynamoDB client (cached in aws_clients) and settings."""
    return ExecutionRepository(dynamodb_client(), get_settings().executions_table_name)
