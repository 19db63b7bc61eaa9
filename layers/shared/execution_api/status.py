"""Reading an execution for its client: the status route's only service (nothing of the submit path)."""

from __future__ import annotations

from execution_api.aws_clients import dynamodb_client
from execution_api.container import per_container
from execution_api.errors import ExecutionNotFound, check_execution_id
from execution_api.models.records import Execution, Job
from execution_api.repository import ExecutionRepository, ExecutionStore
from execution_api.settings import StatusSettings, load_settings


class StatusService:
    def __init__(self, repository: ExecutionStore) -> None:
        self._repository = repository

    def status(self, tenant_id: str, execution_id: str) -> tuple[Execution, list[Job]]:
        """The execution and its jobs in plan order, in one Query where the items fit its 1 MB page; the
        jobs' params are not decoded (no status shows them). ExecutionNotFound for an unknown or foreign id."""
        found = self._repository.get(tenant_id, check_execution_id(execution_id), with_params=False)
        if found is None:
            raise ExecutionNotFound(execution_id)
        return found


@per_container
def status_service() -> StatusService:
    settings = load_settings(StatusSettings)
    return StatusService(ExecutionRepository(dynamodb_client(), settings.executions_table_name))
