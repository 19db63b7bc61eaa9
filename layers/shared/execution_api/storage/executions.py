"""ExecutionStore: intake's and the status route's reads and writes of executions and their jobs: the
submission in transactions no reader sees half of, the sweep of abandoned ones, the status read.

Keys are storage.keys' (one item per job, so a worker updates a job without rewriting the plan); items and
records convert in storage.items (docs/data-model.md has the full table).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from execution_api.core.aws_errors import call, is_retryable
from execution_api.core.errors import StorageUnavailable
from execution_api.core.observability import logger
from execution_api.models.records import Execution, Job
from execution_api.storage.items import execution_from_item, execution_item, job_from_item, job_item
from execution_api.storage.keys import EXECUTION_SK, JOB_SK_PREFIX, PENDING_PK, execution_pk, item_key

_position = attrgetter("position")
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit on actions per TransactWriteItems
MAX_TRANSACTION_BYTES = 3_500_000  # below DynamoDB's 4 MB per transaction, with room for key overhead
_NOT_EXISTS = "attribute_not_exists(pk)"


class StoredExecutions(Protocol):
    """What the submission and status services need of the executions table: ExecutionStore is the
    DynamoDB one, tests/unit/test_submission_and_status_services.py passes an in-memory one."""

    def create(self, execution: Execution, jobs: Sequence[Job]) -> None: ...

    def exists(self, tenant_id: str, execution_id: str) -> bool: ...

    def get(
        self, tenant_id: str, execution_id: str, *, with_params: bool = True
    ) -> tuple[Execution, list[Job]] | None: ...


class ExecutionStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, execution: Execution, jobs: Sequence[Job]) -> None:
        """Write the execution and its jobs so that no reader ever sees part of them.

        Up to 99 jobs: one transaction. Larger plans: the jobs in transactions of up to 100 items
        first, the execution item in the last one; readers find an execution through its
        execution item, so until that commits nothing is visible. A marker item records such a
        multi-transaction submission while it runs (written with the first batch, deleted with the
        last): if the process dies in between, `sweep_abandoned` finds the marker and removes what
        was written. On an ordinary failure the job items already written are deleted at once.

        A transaction can commit although its caller sees a failure (a timeout, or a retry that
        finds its own items): every item carries this submission's write id, so a failed batch is
        read back and counted as written when its items are ours.
        """
        pk = execution_pk(execution.tenant_id, execution.id)
        write_id = uuid.uuid4().hex
        items = [job_item(execution, job, write_id) for job in jobs]
        items.append(execution_item(execution, write_id))
        batches = [[self._put(item) for item in batch] for batch in _transaction_batches(items, MAX_TRANSACTION_ITEMS)]
        if len(batches) > 1:  # room for the marker's Put in the first batch and its Delete in the last
            batches = [[self._put(i) for i in b] for b in _transaction_batches(items, MAX_TRANSACTION_ITEMS - 1)]
            marker = _marker_item(pk, execution, write_id)
            batches[0].insert(0, self._put(marker))
            batches[-1].append(self._delete_marker(marker))
        written: list[dict[str, Any]] = []
        for number, actions in enumerate(batches):
            batch = [action["Put"]["Item"] for action in actions if "Put" in action]
            try:
                # DynamoDB makes boto3's retry of a commit whose answer was lost a no-op.
                self._client.transact_write_items(TransactItems=actions, ClientRequestToken=f"{execution.id}-{number}")
            except (ClientError, BotoCoreError) as error:
                committed = self._written_by(batch[-1], write_id)
                if committed is not True:
                    # Unknown: also remove this batch's items, which can only be ours if they exist.
                    self._delete_quietly(written + (batch if committed is None else []))
                    if is_retryable(error):
                        raise StorageUnavailable("the executions table is unavailable") from error
                    raise
            written.extend(batch)

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": _NOT_EXISTS}}

    def _delete_marker(self, marker: dict[str, Any]) -> dict[str, Any]:
        # Conditional: once the sweeper has taken the marker, the execution item can no longer commit.
        return {
            "Delete": {
                "TableName": self._table,
                "Key": item_key(marker["pk"]["S"], marker["sk"]["S"]),
                "ConditionExpression": "writeId = :writeId",
                "ExpressionAttributeValues": {":writeId": marker["writeId"]},
            }
        }

    def sweep_abandoned(self, started_before: str) -> int:
        """Remove what submissions that started before `started_before` (ISO 8601) and never finished
        left behind; returns how many items went. Safe while submissions run: a submission's last
        transaction needs its marker, and the sweeper takes the marker before anything else."""
        removed = 0
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk < :before",
            "ExpressionAttributeValues": {":pk": {"S": PENDING_PK}, ":before": {"S": started_before}},
            "ConsistentRead": True,
        }
        for marker in _pages(self._client, request):
            try:
                self._client.delete_item(**self._delete_marker(marker)["Delete"])
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    continue  # gone already: the submission finished, or another sweeper took it
                raise
            leftovers = [
                item
                for item in self._query(marker["executionPk"]["S"])
                if item.get("writeId", {}).get("S") == marker["writeId"]["S"]
            ]
            self._delete_quietly(leftovers)
            removed += len(leftovers) + 1
        return removed

    def _written_by(self, item: dict[str, Any], write_id: str) -> bool | None:
        """Whether `item` is stored with this write id; None when that cannot be read either."""
        try:
            found = self._client.get_item(
                TableName=self._table,
                Key=item_key(item["pk"]["S"], item["sk"]["S"]),
                ProjectionExpression="writeId",
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError):
            return None
        return found is not None and found.get("writeId", {}).get("S") == write_id

    def exists(self, tenant_id: str, execution_id: str) -> bool:
        response = call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=item_key(execution_pk(tenant_id, execution_id), EXECUTION_SK),
            ProjectionExpression="pk",
            ConsistentRead=True,
        )
        return "Item" in response

    def get(self, tenant_id: str, execution_id: str, *, with_params: bool = True) -> tuple[Execution, list[Job]] | None:
        """The execution and its jobs in plan order, or None; one strongly consistent Query (paged).
        `with_params=False` leaves each job's params empty instead of decoding them (the status read)."""
        items = list(self._query(execution_pk(tenant_id, execution_id)))
        execution_items = [item for item in items if item["sk"]["S"] == EXECUTION_SK]
        if not execution_items:
            return None  # no execution item: nothing, or job items of a submission that never completed
        jobs = [job_from_item(item, with_params) for item in items if item["sk"]["S"].startswith(JOB_SK_PREFIX)]
        jobs.sort(key=_position)
        return execution_from_item(execution_items[0]), jobs

    def _query(self, pk: str) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        return _pages(self._client, request)

    def _delete_quietly(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 25):  # BatchWriteItem takes 25 requests at a time
            batch = items[start : start + 25]
            requests = [{"DeleteRequest": {"Key": item_key(i["pk"]["S"], i["sk"]["S"])}} for i in batch]
            try:
                for _ in range(3):
                    unprocessed = self._client.batch_write_item(RequestItems={self._table: requests})
                    requests = unprocessed.get("UnprocessedItems", {}).get(self._table, [])
                    if not requests:
                        break
            except (ClientError, BotoCoreError):
                logger.warning(
                    "could not delete job items of a failed submission; TTL will", extra={"items": len(requests)}
                )
                return


def _pages(client: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    while True:
        page = call(client, "query", **request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def _transaction_batches(items: list[dict[str, Any]], max_items: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for item in items:
        item_size = _approximate_size(item)
        if batch and (len(batch) == max_items or size + item_size > MAX_TRANSACTION_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def _approximate_size(item: dict[str, Any]) -> int:
    """An upper bound, cheap on the hot path: params (JSON text) dominate a job item; the rest is small."""
    params = item.get("params", {}).get("S", "")
    size = len(params) if params.isascii() else len(params.encode("utf-8"))  # isascii is a flag lookup
    return size + 130 * len(item.get("rootJobIds", {}).get("L", [])) + 2048


def _marker_item(pk: str, execution: Execution, write_id: str) -> dict[str, Any]:
    return {
        **item_key(PENDING_PK, f"{execution.created_at}#{pk}"),
        "writeId": {"S": write_id},
        "entity": {"S": "pendingSubmission"},
        "executionPk": {"S": pk},
        "expiresAt": {"N": str(execution.expires_at)},
    }


__all__ = ["ExecutionStore", "StoredExecutions"]
