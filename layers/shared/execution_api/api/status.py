"""Reading an execution for its client: the status route's only service (nothing of the submit path), and
its settings. Nothing here loads pydantic: the status function's cold start is on every first poll's path
(docs/benchmarks.md); its answer is shaped by execution_api.models.status_view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from execution_api.core.aws_clients import dynamodb_client
from execution_api.core.container import per_container
from execution_api.core.environment import load_settings, text_variable
from execution_api.core.errors import ExecutionNotFound, check_execution_id
from execution_api.models.records import Execution, Job
from execution_api.storage.executions import ExecutionStore, StoredExecutions


@dataclass(frozen=True)
class StatusSettings:
    """GET /api/execute/{id}/status reads the executions table, and presents outputs as presigned GETs
    (how: execution_api.storage.outputs.OutputLinkSettings; CORS: execution_api.api.cors.CorsSettings)."""

    executions_table_name: str
    outputs_bucket_name: str

    @classmethod
    def from_environment(cls) -> Self:
        return cls(
            executions_table_name=text_variable(cls.__name__, "EXECUTIONS_TABLE_NAME"),
            outputs_bucket_name=text_variable(cls.__name__, "OUTPUTS_BUCKET_NAME", min_length=3),
        )


class StatusService:
    def __init__(self, store: StoredExecutions) -> None:
        self._store = store

    def status(self, tenant_id: str, execution_id: str) -> tuple[Execution, list[Job]]:
        """The execution and its jobs in plan order, in one Query where the items fit its 1 MB page; the
        jobs' params are not decoded (no status shows them). ExecutionNotFound for an unknown or foreign id."""
        found = self._store.get(tenant_id, check_execution_id(execution_id), with_params=False)
        if found is None:
            raise ExecutionNotFound(execution_id)
        return found


@per_container
def status_service() -> StatusService:
    settings = load_settings(StatusSettings)
    return StatusService(ExecutionStore(dynamodb_client(), settings.executions_table_name))
