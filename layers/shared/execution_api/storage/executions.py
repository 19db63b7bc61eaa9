"""ExecutionRepository: the only code that knows the table's keys, attributes and conditions.

Item layout (docs/data-model.md has the full table):
  pk = TENANT#<tenantId>#EXECUTION#<executionId>
  sk = EXECUTION          the execution: status, counts, webhook, TTL
  sk = JOB#<jobId>        one item per job, so a worker updates a job without rewriting the plan
The tenant is part of the key, so one tenant's request can never address another's items.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from execution_api.core import exact_json
from execution_api.core.aws_errors import call, is_retryable
from execution_api.core.errors import StorageUnavailable
from execution_api.core.observability import logger
from execution_api.models.records import Execution, Job
from execution_api.storage.webhook_state import webhook_delivery_from_item

EXECUTION_SK = "EXECUTION"
PENDING_PK = "PENDING_SUBMISSION"  # markers of multi-transaction submissions still being written
JOB_SK_PREFIX = "JOB#"
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit on actions per TransactWriteItems
MAX_TRANSACTION_BYTES = 3_500_000  # below DynamoDB's 4 MB per transaction, with room for key overhead
_NOT_EXISTS = "attribute_not_exists(pk)"


def execution_pk(tenant_id: str, execution_id: str) -> str:
    return f"TENANT#{tenant_id}#EXECUTION#{execution_id}"


class ExecutionStore(Protocol):
    """What the submission and status services need of the executions table: ExecutionRepository is the
    DynamoDB one, tests/unit/test_submission_and_status_services.py passes an in-memory one."""

    def create(self, execution: Execution, jobs: Sequence[Job]) -> None: ...

    def exists(self, tenant_id: str, execution_id: str) -> bool: ...

    def get(
        self, tenant_id: str, execution_id: str, *, with_params: bool = True
    ) -> tuple[Execution, list[Job]] | None: ...


class ExecutionRepository:
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
        items = [_job_item(pk, execution, job, write_id) for job in jobs]
        items.append(_execution_item(pk, execution, write_id))
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
                "Key": _key(marker["pk"]["S"], marker["sk"]["S"]),
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
                Key=_key(item["pk"]["S"], item["sk"]["S"]),
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
            Key=_key(execution_pk(tenant_id, execution_id), EXECUTION_SK),
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
        jobs = sorted(
            (_job_from_item(item, with_params) for item in items if item["sk"]["S"].startswith(JOB_SK_PREFIX)),
            key=lambda job: job.position,
        )
        return _execution_from_item(execution_items[0]), jobs

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
            requests = [{"DeleteRequest": {"Key": _key(i["pk"]["S"], i["sk"]["S"])}} for i in items[start : start + 25]]
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


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _strings(values: Sequence[str]) -> dict[str, Any]:
    return {"L": [{"S": v} for v in values]}


def _execution_item(pk: str, execution: Execution, write_id: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(pk, EXECUTION_SK),
        "writeId": {"S": write_id},
        "entity": {"S": "execution"},
        "executionId": {"S": execution.id},
        "tenantId": {"S": execution.tenant_id},
        "status": {"S": execution.status},
        "createdAt": {"S": execution.created_at},
        "updatedAt": {"S": execution.updated_at},
        "expiresAt": {"N": str(execution.expires_at)},
        "rootJobIds": _strings(execution.root_job_ids),
        "totalJobs": {"N": str(execution.total_jobs)},
    }
    if execution.base_execution_id is not None:
        item["baseExecutionId"] = {"S": execution.base_execution_id}
    if execution.webhook_url is not None:
        item["webhookUrl"] = {"S": execution.webhook_url}
    if execution.webhook_secret_ciphertext is not None:
        item["webhookSecretCiphertext"] = {"B": execution.webhook_secret_ciphertext}
    if execution.sealed_credentials is not None:
        item["sealedCredentials"] = {"B": execution.sealed_credentials}
    return item


def _marker_item(pk: str, execution: Execution, write_id: str) -> dict[str, Any]:
    return {
        **_key(PENDING_PK, f"{execution.created_at}#{pk}"),
        "writeId": {"S": write_id},
        "entity": {"S": "pendingSubmission"},
        "executionPk": {"S": pk},
        "expiresAt": {"N": str(execution.expires_at)},
    }


def _job_item(pk: str, execution: Execution, job: Job, write_id: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(pk, JOB_SK_PREFIX + job.id),
        "writeId": {"S": write_id},
        "entity": {"S": "job"},
        "executionId": {"S": execution.id},
        "jobId": {"S": job.id},
        "position": {"N": str(job.position)},
        "operation": {"S": job.operation},
        # JSON text, not a DynamoDB map: keeps every digit, empty strings and key order exactly as sent.
        "params": {"S": job.params_text if job.params_text is not None else exact_json.dumps(job.params)},
        "dependsOn": _strings(job.depends_on),
        "status": {"S": job.status},
        "createdAt": {"S": execution.created_at},
        "updatedAt": {"S": execution.updated_at},
        "expiresAt": {"N": str(execution.expires_at)},
    }
    if job.output is not None:
        item["output"] = {"S": job.output}
    if job.base_depends_on:
        item["baseDependsOn"] = _strings(job.base_depends_on)
    if job.sealed_params:
        item["sealedParams"] = {"S": json.dumps(job.sealed_params, separators=(",", ":"))}
    if job.send_webhook:  # the stream filter of per-job webhooks (docs/webhooks.md) reads this flag
        item["jobWebhook"] = {"BOOL": True}
    return item


def _optional_json(item: dict[str, Any], name: str) -> Any:
    return json.loads(item[name]["S"]) if name in item else None


def _execution_from_item(item: dict[str, Any]) -> Execution:
    return Execution(
        id=item["executionId"]["S"],
        tenant_id=item["tenantId"]["S"],
        status=item["status"]["S"],
        created_at=item["createdAt"]["S"],
        updated_at=item["updatedAt"]["S"],
        completed_at=item["completedAt"]["S"] if "completedAt" in item else None,
        expires_at=int(item["expiresAt"]["N"]),
        root_job_ids=tuple(v["S"] for v in item["rootJobIds"]["L"]),
        total_jobs=int(item["totalJobs"]["N"]),
        base_execution_id=item["baseExecutionId"]["S"] if "baseExecutionId" in item else None,
        webhook_url=item["webhookUrl"]["S"] if "webhookUrl" in item else None,
        webhook_secret_ciphertext=item["webhookSecretCiphertext"]["B"] if "webhookSecretCiphertext" in item else None,
        sealed_credentials=item["sealedCredentials"]["B"] if "sealedCredentials" in item else None,
        result=_optional_json(item, "result"),
        error=_optional_json(item, "error"),
        webhook_delivery=webhook_delivery_from_item(item),
    )


def _job_from_item(item: dict[str, Any], with_params: bool = True) -> Job:
    return Job(
        id=item["jobId"]["S"],
        position=int(item["position"]["N"]),
        operation=item["operation"]["S"],
        params=exact_json.loads(item["params"]["S"]) if with_params else {},
        depends_on=tuple(v["S"] for v in item["dependsOn"]["L"]),
        output=item["output"]["S"] if "output" in item else None,
        status=item["status"]["S"],
        base_depends_on=tuple(v["S"] for v in item.get("baseDependsOn", {}).get("L", [])),
        sealed_params=json.loads(item["sealedParams"]["S"]) if "sealedParams" in item else {},
        result=_optional_json(item, "result"),
        error=_optional_json(item, "error"),
        completed_at=item["completedAt"]["S"] if "completedAt" in item else None,
        send_webhook="jobWebhook" in item,
        webhook_delivery=webhook_delivery_from_item(item),
    )
