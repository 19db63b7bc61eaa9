"""GET /api/execute/{id}/status, as docs/api.md states it."""

from __future__ import annotations

import json

import boto3
import pytest

from execution_api.models.response import ExecutionStatus
from execution_api.storage.executions import ExecutionStore
from local.stack import LocalDeployment
from tests.support import Api, event_file, plan


def test_a_fresh_execution_reads_back_whole(api: Api) -> None:
    # Given the canonical request was accepted
    accepted = api.submit(json.loads(event_file("submit-canonical.json")["body"])).body
    # When its status is read
    answer = api.status(accepted["id"])
    # Then every documented field is there, pending, jobs in plan order, no secret
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.body == {
        "id": accepted["id"],
        "executionId": accepted["id"],
        "status": "pending",
        "createdAt": accepted["createdAt"],
        "updatedAt": accepted["createdAt"],
        "completedAt": None,
        "baseExecutionId": None,
        "webhook": {
            "url": "https://example.com/hooks/executions",
            "deliveredAt": None,
            "attempts": 0,
            "lastStatus": None,
        },
        "totalJobs": 2,
        "completedJobs": 0,
        "failedJobs": 0,
        "progress": 0,
        "currentJob": None,
        "jobs": [
            {
                "id": "job1",
                "operation": "generateVideo",
                "status": "pending",
                "dependsOn": [],
                "result": None,
                "error": None,
                "cancelled": False,
                "webhook": None,
            },
            {
                "id": "job2",
                "operation": "addSubtitles",
                "status": "pending",
                "dependsOn": ["job1"],
                "result": None,
                "error": None,
                "cancelled": False,
                "webhook": None,
            },
        ],
        "result": None,
        "error": None,
        "cancelled": False,
    }
    assert "a shared secret" not in json.dumps(answer.body)


def test_webhook_is_null_without_one_and_base_is_reported(api: Api) -> None:
    base = api.submit(plan({"id": "a"})).body["id"]
    execution_id = api.submit({"executionPlan": {"jobs": [], "baseExecutionId": base}}).body["id"]
    body = api.status(execution_id).body
    assert body["webhook"] is None
    assert body["baseExecutionId"] == base
    assert body["jobs"] == []


def test_jobs_keep_plan_order_not_key_order(api: Api) -> None:
    ids = ["zeta", "alpha", "mid", "Beta"]
    execution_id = api.submit(plan(*({"id": i} for i in ids))).body["id"]
    assert [j["id"] for j in api.status(execution_id).body["jobs"]] == ids


def test_progress_and_counts_follow_the_job_items(api: Api, aws: LocalDeployment) -> None:
    # Given a worker (simulated) completed one job, failed one and runs one of four
    execution_id = api.submit(plan({"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"})).body["id"]
    client = boto3.client("dynamodb", region_name="us-east-1")
    pk = f"TENANT#local#EXECUTION#{execution_id}"
    for job, status, extra in (
        ("a", "completed", {"result": {"S": json.dumps(RESULT)}}),
        ("b", "failed", {"error": {"S": json.dumps("provider timeout")}}),
        ("c", "processing", {}),
    ):
        client.update_item(
            TableName=aws.names["ExecutionsTable"],
            Key={"pk": {"S": pk}, "sk": {"S": f"JOB#{job}"}},
            UpdateExpression="SET #s = :s" + "".join(f", #{k} = :{k}" for k in extra),
            ExpressionAttributeNames={"#s": "status", **{f"#{k}": k for k in extra}},
            ExpressionAttributeValues={":s": {"S": status}, **{f":{k}": v for k, v in extra.items()}},
        )
    # When the status is read
    body = api.status(execution_id).body
    # Then the counts, progress and current job reflect the jobs
    assert (body["totalJobs"], body["completedJobs"], body["failedJobs"], body["progress"]) == (4, 1, 1, 25)
    assert body["currentJob"] == "c"
    assert body["jobs"][0]["result"] == RESULT
    assert body["jobs"][1]["error"] == "provider timeout"


RESULT = {
    "status": "completed",
    "outputs": [{"type": "video", "url": "https://outputs.example.invalid/a.mp4", "mimeType": "video/mp4"}],
    "metadata": {"seconds": 4},
}


@pytest.mark.parametrize("execution_id", ["V1StGXR8_Z5jdHi6B-myT", "short", "x" * 300, "a%2Fb"])
def test_an_unknown_id_is_404(api: Api, execution_id: str) -> None:
    answer = api.status(execution_id)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "execution_not_found"


def test_another_tenants_execution_is_404(api: Api) -> None:
    # Given an execution of tenant "local"
    execution_id = api.submit(plan({"id": "a"})).body["id"]
    # When tenant "acme" asks for it / Then it does not exist for them (404, not 403)
    assert api.status(execution_id, tenant="acme").status == 404
    assert api.status(execution_id, tenant="local").status == 200


def test_a_partial_execution_is_invisible(api: Api, aws: LocalDeployment) -> None:
    # Given job items without their execution item (a large submission that failed midway)
    client = boto3.client("dynamodb", region_name="us-east-1")
    execution_id = "P4rt1alExecution00001"
    client.put_item(
        TableName=aws.names["ExecutionsTable"],
        Item={
            "pk": {"S": f"TENANT#local#EXECUTION#{execution_id}"},
            "sk": {"S": "JOB#a"},
            "executionId": {"S": execution_id},
        },
    )
    # Then the status endpoint does not see an execution
    assert api.status(execution_id).status == 404


def test_webhook_secret_is_never_returned_by_any_endpoint(api: Api) -> None:
    secret = "correct horse battery staple"
    accepted = api.submit(
        {**plan({"id": "a"}), "options": {"webhookUrl": "https://example.com/h", "webhookSecret": secret}}
    )
    status = api.status(accepted.body["id"])
    for answer in (accepted, status):
        assert secret not in json.dumps(answer.body)
        assert secret not in json.dumps(answer.headers)


@pytest.mark.parametrize(
    "stored_result",
    [
        {"status": "completed", "outputs": [{**RESULT["outputs"][0], "durationSeconds": 4, "bytes": 9}]},
        {"status": "completed", "outputs": [], "metadata": {"fps": 29.97, "big": 1e16, "nested": [{"é": None}]}},
        {"status": "completed", "outputs": [], "text": "a custom worker's own key"},  # the model drops it
    ],
    ids=["outputs", "metadata-floats", "extra-key"],
)
def test_the_answer_is_the_execution_status_models_byte_for_byte(
    api: Api, aws: LocalDeployment, stored_result: dict[str, object]
) -> None:
    # Given stored jobs: one completed with this result, one cancelled, one failed
    execution_id = api.submit(plan({"id": "a"}, {"id": "b"}, {"id": "c"})).body["id"]
    client = boto3.client("dynamodb", region_name="us-east-1")
    table = aws.names["ExecutionsTable"]
    for job, status, extra in (
        ("a", "completed", {"result": {"S": json.dumps(stored_result)}}),
        ("b", "cancelled", {}),
        ("c", "failed", {"error": {"S": json.dumps("provider timeout")}}),
    ):
        client.update_item(
            TableName=table,
            Key={"pk": {"S": f"TENANT#local#EXECUTION#{execution_id}"}, "sk": {"S": f"JOB#{job}"}},
            UpdateExpression="SET #s = :s" + "".join(f", #{k} = :{k}" for k in extra),
            ExpressionAttributeNames={"#s": "status", **{f"#{k}": k for k in extra}},
            ExpressionAttributeValues={":s": {"S": status}, **{f":{k}": v for k, v in extra.items()}},
        )
    # When the status is read through the handler
    answer = api.status(execution_id)
    # Then its body is the model's dump of the same stored records (docs/openapi.json's schema), byte for byte
    stored = ExecutionStore(client, table).get("local", execution_id, with_params=False)
    assert stored is not None
    assert answer.status == 200
    assert answer.raw == ExecutionStatus.of(*stored).model_dump_json(by_alias=True).encode("utf-8")
