"""POST /api/execute success: the 202 contract, aliases, and what is stored (docs/api.md, docs/data-model.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import Api, event_file, plan, table_items

NANOID = re.compile(r"[A-Za-z0-9_-]{21}")
ISO_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def items_of(table: Any, execution_id: str) -> list[dict[str, Any]]:
    return [i for i in table_items(table) if i["executionId"] == execution_id]


def test_the_seed_smoke_test_is_accepted(api: Api, table: Any) -> None:
    # Given the original design's smoke test / When it is submitted
    answer = api.submit({"executionPlan": {"jobs": [], "rootJobIds": []}})
    # Then 202 with the documented body and Location
    assert answer.status == 202
    execution_id = answer.body["id"]
    assert NANOID.fullmatch(execution_id)
    assert answer.body == {
        "id": execution_id,
        "executionId": execution_id,
        "status": "pending",
        "createdAt": answer.body["createdAt"],
        "statusUrl": f"/api/execute/{execution_id}/status",
    }
    assert answer.headers["Location"] == f"/api/execute/{execution_id}/status"
    assert answer.headers["Content-Type"] == "application/json"
    assert ISO_MILLIS.fullmatch(answer.body["createdAt"])
    # And the execution item holds the same instant
    [item] = items_of(table, execution_id)
    assert item["createdAt"] == answer.body["createdAt"]
    assert item["status"] == "pending"


def test_the_canonical_request_stores_the_execution_and_each_job(api: Api, table: Any) -> None:
    body = json.loads(event_file("submit-canonical.json")["body"])
    answer = api.submit(body)
    assert answer.status == 202
    items = {i["sk"]: i for i in items_of(table, answer.body["id"])}
    assert set(items) == {"EXECUTION", "JOB#job1", "JOB#job2"}
    execution = items["EXECUTION"]
    assert execution["pk"] == f"TENANT#local#EXECUTION#{answer.body['id']}"
    assert execution["tenantId"] == "local"
    assert execution["totalJobs"] == 2
    assert execution["rootJobIds"] == ["job1"]
    assert execution["webhookUrl"] == "https://example.com/hooks/executions"
    job2 = items["JOB#job2"]
    assert job2["status"] == "pending"
    assert job2["operation"] == "addSubtitles"
    assert job2["dependsOn"] == ["job1"]
    assert json.loads(job2["params"]) == {"video": "_videoJobDependency:job1"}


def test_the_sdk_shape_is_accepted_and_normalized(api: Api, table: Any) -> None:
    # Given what the TypeScript SDK really sends (type, output, options.webhook, no rootJobIds)
    body = json.loads(event_file("submit-sdk.json")["body"])
    answer = api.submit(body)
    assert answer.status == 202
    items = {i["sk"]: i for i in items_of(table, answer.body["id"])}
    # Then type is stored as operation, output is kept, and the roots are derived
    assert items["JOB#job2"]["operation"] == "generate"
    assert items["JOB#job1"]["operation"] == "merge"
    assert items["JOB#job1"]["output"] == "$job1"
    assert items["EXECUTION"]["rootJobIds"] == ["job2"]
    assert items["EXECUTION"]["webhookUrl"] == "https://example.com/hook"
    # And the secret is stored only as ciphertext
    assert "webhookSecretCiphertext" in items["EXECUTION"]
    assert "shh" not in repr(items)


def test_dependencies_alias_means_depends_on(api: Api, table: Any) -> None:
    answer = api.submit(plan({"id": "a"}, {"id": "b", "dependencies": ["a"]}))
    assert answer.status == 202
    items = {i["sk"]: i for i in items_of(table, answer.body["id"])}
    assert items["JOB#b"]["dependsOn"] == ["a"]
    assert items["EXECUTION"]["rootJobIds"] == ["a"]


def test_base_execution_id_in_either_place(api: Api, table: Any) -> None:
    base = api.submit(plan({"id": "a"})).body["id"]
    for body in (
        {**plan({"id": "a"}), "options": {"baseExecutionId": base}},
        {"executionPlan": {"jobs": [], "baseExecutionId": base}},
        {"executionPlan": {"jobs": [], "baseExecutionId": base}, "options": {"baseExecutionId": base}},
    ):
        answer = api.submit(body)
        assert answer.status == 202, answer.body
        [execution] = [i for i in items_of(table, answer.body["id"]) if i["sk"] == "EXECUTION"]
        assert execution["baseExecutionId"] == base


def test_params_are_kept_exactly(api: Api, table: Any) -> None:
    params = {"ratio": 1.7777777777777777, "empty": "", "nested": {"list": [1, None, True]}, "unicode": "ça ✓"}
    answer = api.submit(plan({"id": "a", "params": params}))
    [job] = [i for i in items_of(table, answer.body["id"]) if i["sk"] == "JOB#a"]
    assert json.loads(job["params"]) == params


def test_items_carry_a_ttl_from_execution_retention_days(api: Api, table: Any, configure: Any) -> None:
    configure("EXECUTION_RETENTION_DAYS", "7")
    answer = api.submit(plan({"id": "a"}))
    created = datetime.strptime(answer.body["createdAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    expected = int((created + timedelta(days=7)).timestamp())
    for item in items_of(table, answer.body["id"]):
        assert abs(int(item["expiresAt"]) - expected) <= 1


def test_ids_are_unique_per_submission(api: Api) -> None:
    ids = {api.submit(plan({"id": "a"})).body["id"] for _ in range(20)}
    assert len(ids) == 20
