"""JobStore: the engine's reads and conditional writes on the executions table (layout: docs/data-model.md,
engine attributes: docs/engine.md). Every status change is conditional on the status it leaves, so a
redelivered message or a duplicate report never applies twice."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from execution_api.core.aws_errors import is_condition_failure
from execution_api.models.records import UNFINISHED_STATES, Execution, Job
from execution_api.storage.items import JOB_ATTRIBUTES, Item, execution_from_item, job_from_item, json_text
from execution_api.storage.keys import EXECUTION_SK, JOB_SK_PREFIX, item_key, job_sk

_OUTLINE = f"{JOB_ATTRIBUTES}, baseDependsOn, gateToken, prediction"  # what jobs_of reads of each job


class JobStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # ---- reads: records, decoded by storage.items ----
    def job(self, pk: str, job_id: str) -> Job | None:
        found = self._client.get_item(TableName=self._table, Key=item_key(pk, job_sk(job_id)), ConsistentRead=True)
        return job_from_item(found["Item"]) if "Item" in found else None

    def execution(self, pk: str) -> Execution | None:
        found = self._client.get_item(TableName=self._table, Key=item_key(pk, EXECUTION_SK), ConsistentRead=True)
        return execution_from_item(found["Item"]) if "Item" in found else None

    def results(self, pk: str, job_ids: Sequence[str]) -> dict[str, Job]:
        """Jobs by id with their results (not their params), 100 per BatchGetItem (strongly consistent),
        unprocessed keys retried."""
        found: dict[str, Job] = {}
        projection = JOB_ATTRIBUTES + ", #result"
        for start in range(0, len(job_ids), 100):
            keys = [item_key(pk, job_sk(job_id)) for job_id in job_ids[start : start + 100]]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ConsistentRead": True,
                    "ProjectionExpression": projection,
                    "ExpressionAttributeNames": _names(projection),
                }
            }
            while request:
                answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    job = job_from_item(item, with_params=False)
                    found[job.id] = job
                request = answer.get("UnprocessedKeys") or {}
        return found

    def jobs_of(self, pk: str) -> list[Job]:
        """The execution's jobs in key order, read as far as the start and the cancel need them: keys,
        dependencies, status, gate token and prediction, not params nor results."""
        items = self._partition(pk, {"ProjectionExpression": _OUTLINE, "ExpressionAttributeNames": _names(_OUTLINE)})
        return [job_from_item(item, with_params=False) for item in items if item["sk"]["S"].startswith(JOB_SK_PREFIX)]

    def execution_and_jobs(self, pk: str) -> tuple[Execution | None, list[Job]]:
        """The execution and its jobs in key order: one strongly consistent Query, paged, of whole items; each
        job's params are read but not decoded (its record's params are empty)."""
        execution, jobs = None, []
        for item in self._partition(pk, {}):
            if item["sk"]["S"] == EXECUTION_SK:
                execution = execution_from_item(item)
            elif item["sk"]["S"].startswith(JOB_SK_PREFIX):
                jobs.append(job_from_item(item, with_params=False))
        return execution, jobs

    def _partition(self, pk: str, projection: dict[str, Any]) -> Iterator[Item]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
            **projection,
        }
        while True:
            page = self._client.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---- start ----
    def set_dependents(self, pk: str, dependents: dict[str, list[str]]) -> None:
        """Write each job's dependents (the reverse of dependsOn) so a completion knows whom to release.
        Idempotent; up to 100 jobs per transaction."""
        updates = [(job_id, ids) for job_id, ids in dependents.items() if ids]
        for start in range(0, len(updates), 100):
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": item_key(pk, job_sk(job_id)),
                            "UpdateExpression": "SET dependents = :d",
                            "ExpressionAttributeValues": {":d": {"L": [{"S": i} for i in ids]}},
                        }
                    }
                    for job_id, ids in updates[start : start + 100]
                ]
            )

    def start_execution(self, pk: str, arn: str, now: str) -> bool:
        """pending -> processing; False when the execution is no longer pending (cancelled, or started)."""
        return self._update(
            item_key(pk, EXECUTION_SK),
            "SET #status = :processing, updatedAt = :now, stateMachineExecutionArn = :arn",
            "#status = :pending",
            {":processing": _s("processing"), ":pending": _s("pending"), ":now": _s(now), ":arn": _s(arn)},
        )

    # ---- gates ----
    def store_gate_token(self, pk: str, job_id: str, token: str, dependencies: int) -> bool:
        """Park the gate's token on a pending job whose dependencies are not all done and none failed;
        False when that no longer holds (then the caller answers the gate itself)."""
        return self._update(
            item_key(pk, job_sk(job_id)),
            "SET gateToken = :token",
            "#status = :pending AND attribute_not_exists(failedDependency)"
            " AND (attribute_not_exists(doneDependencies) OR size(doneDependencies) < :n)",
            {":token": _s(token), ":pending": _s("pending"), ":n": {"N": str(dependencies)}},
        )

    def mark_processing(self, pk: str, job_id: str, token: str, now: str) -> bool:
        """pending -> processing when the gate opens; true again for the same gate token (a redelivery)."""
        return self._update(
            item_key(pk, job_sk(job_id)),
            "SET #status = :processing, gateToken = :token, startedAt = if_not_exists(startedAt, :now),"
            " updatedAt = :now",
            "#status = :pending OR (#status = :processing AND gateToken = :token)",
            {":processing": _s("processing"), ":pending": _s("pending"), ":token": _s(token), ":now": _s(now)},
        )

    def add_done_dependency(self, pk: str, job_id: str, dependency: str) -> Job:
        """Count `dependency` as done for `job_id` (a string set: adding twice counts once); the job now."""
        answer = self._client.update_item(
            TableName=self._table,
            Key=item_key(pk, job_sk(job_id)),
            UpdateExpression="ADD doneDependencies :d",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":d": {"SS": [dependency]}},
            ReturnValues="ALL_NEW",
        )
        return job_from_item(answer["Attributes"])

    def mark_failed_dependency(self, pk: str, job_id: str, dependency: str) -> Job:
        """Record the first failed dependency of `job_id`; the job now."""
        answer = self._client.update_item(
            TableName=self._table,
            Key=item_key(pk, job_sk(job_id)),
            UpdateExpression="SET failedDependency = if_not_exists(failedDependency, :d)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":d": _s(dependency)},
            ReturnValues="ALL_NEW",
        )
        return job_from_item(answer["Attributes"])

    # ---- outcomes ----
    def claim_attempt(self, pk: str, job_id: str, attempt: int, now: str) -> bool:
        """The worker's claim on one attempt: a redelivered message of an attempt already claimed gets False."""
        return self._update(
            item_key(pk, job_sk(job_id)),
            "SET attempts = :a, updatedAt = :now",
            "#status = :processing AND (attribute_not_exists(attempts) OR attempts < :a)",
            {":a": {"N": str(attempt)}, ":processing": _s("processing"), ":now": _s(now)},
        )

    def complete_job(self, pk: str, job_id: str, result: Any, now: str) -> bool:
        return self._update(
            item_key(pk, job_sk(job_id)),
            "SET #status = :completed, #result = :result, completedAt = :now, updatedAt = :now REMOVE gateToken",
            "#status = :processing",
            {":completed": _s("completed"), ":processing": _s("processing"), ":result": _json(result), ":now": _s(now)},
            names={"#result": "result"},
        )

    def fail_job(self, pk: str, job_id: str, error: str, now: str, from_statuses: Sequence[str]) -> bool:
        return self._status_change(pk, job_sk(job_id), "failed", error, now, from_statuses)

    def cancel_job(self, pk: str, job_id: str, now: str) -> bool:
        return self._status_change(pk, job_sk(job_id), "cancelled", None, now, UNFINISHED_STATES)

    def finish_execution(self, pk: str, status: str, result: Any, error: str | None, now: str) -> bool:
        """processing -> completed | failed, with the result or the error."""
        values = {":to": _s(status), ":processing": _s("processing"), ":now": _s(now)}
        names: dict[str, str] = {}
        update = "SET #status = :to, completedAt = :now, updatedAt = :now"
        for name, value in (("result", result), ("error", error)):
            if value is not None:
                update += f", #{name} = :{name}"
                values[f":{name}"] = _json(value)
                names[f"#{name}"] = name
        return self._update(item_key(pk, EXECUTION_SK), update, "#status = :processing", values, names=names)

    def cancel_execution(self, pk: str, now: str) -> bool:
        """Any unfinished execution -> cancelled; False when it had already finished."""
        return self._status_change(pk, EXECUTION_SK, "cancelled", None, now, UNFINISHED_STATES)

    # ---- helpers ----
    def _status_change(
        self, pk: str, sk: str, to: str, error: str | None, now: str, from_statuses: Sequence[str]
    ) -> bool:
        values = {":to": _s(to), ":now": _s(now)}
        values.update({f":from{i}": _s(s) for i, s in enumerate(from_statuses)})
        update = "SET #status = :to, completedAt = :now, updatedAt = :now REMOVE gateToken"
        names = None
        if error is not None:
            update = "SET #status = :to, #error = :error, completedAt = :now, updatedAt = :now REMOVE gateToken"
            values[":error"] = _json(error)
            names = {"#error": "error"}
        condition = f"#status IN ({', '.join(f':from{i}' for i in range(len(from_statuses)))})"
        return self._update(item_key(pk, sk), update, condition, values, names=names)

    def _update(
        self,
        key: Item,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True


def _names(projection: str) -> dict[str, str]:
    """ExpressionAttributeNames of a projection's #names (`#status` is `status`: a reserved word)."""
    return {name: name[1:] for name in re.findall(r"#\w+", projection)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _json(value: Any) -> dict[str, str]:
    # JSON text, like params: the status endpoint parses result and error.
    return {"S": json_text(value)}


__all__ = ["JobStore"]
