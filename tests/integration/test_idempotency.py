"""Idempotency-Key (docs/api.md), through the real submit handler against moto."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from execution_api.core.aws_clients import dynamodb_client
from execution_api.intake.submission import SubmissionService
from local.events import rest_api_event
from local.stack import FakeLambdaContext, LocalDeployment
from tests.support import JSON, SUBMIT, Answer, Api, all_items, fail_call, plan, stored_items

BODY = plan({"id": "a"}, {"id": "b", "dependsOn": ["a"]})


def with_key(key: str, header: str = "Idempotency-Key") -> dict[str, str]:
    return {**JSON, header: key}


def executions(aws: LocalDeployment) -> list[dict[str, Any]]:
    items = stored_items(aws)
    return [i for i in items if i["sk"]["S"] == "EXECUTION"]


def test_a_replay_returns_the_first_answer_and_writes_nothing(api: Api, aws: LocalDeployment) -> None:
    # Given a first request with a key was accepted
    first = api.submit(BODY, headers=with_key("order-42"))
    assert first.status == 202
    assert "Idempotent-Replayed" not in first.headers
    sent: Counter[str] = Counter()
    dynamodb_client().meta.events.register("before-send.dynamodb", lambda event_name, **_: sent.update([event_name]))
    # When the same request is sent again
    again = api.submit(BODY, headers=with_key("order-42"))
    # Then the first answer comes back, marked as a replay, and no execution is written
    assert again.status == 202
    assert again.body == first.body
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(executions(aws)) == 1
    assert not any(name.endswith("TransactWriteItems") for name in sent)


@pytest.mark.parametrize("header", ["idempotency-key", "IDEMPOTENCY-KEY", "Idempotency-key"])
def test_header_names_are_case_insensitive(api: Api, aws: LocalDeployment, header: str) -> None:
    first = api.submit(BODY, headers=with_key("k-1"))
    again = api.submit(BODY, headers=with_key("k-1", header))
    assert again.body["id"] == first.body["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(executions(aws)) == 1


def test_the_structured_field_form_is_the_same_key(api: Api) -> None:
    first = api.submit(BODY, headers=with_key("abc"))
    assert api.submit(BODY, headers=with_key('"abc"')).body["id"] == first.body["id"]


def test_the_same_key_with_another_body_is_422(api: Api, aws: LocalDeployment) -> None:
    api.submit(BODY, headers=with_key("k-2"))
    answer = api.submit(plan({"id": "other"}), headers=with_key("k-2"))
    assert answer.status == 422
    assert answer.body["code"] == "idempotency_key_reused"
    assert len(executions(aws)) == 1


def test_a_different_webhook_secret_is_a_different_body(api: Api) -> None:
    options = {"webhookUrl": "https://example.com/h", "webhookSecret": "one"}
    api.submit({**BODY, "options": options}, headers=with_key("k-3"))
    answer = api.submit({**BODY, "options": {**options, "webhookSecret": "two"}}, headers=with_key("k-3"))
    assert answer.body["code"] == "idempotency_key_reused"


def test_keys_are_scoped_to_the_tenant(api: Api, aws: LocalDeployment) -> None:
    def submit_as(tenant: str) -> Answer:
        event = rest_api_event("POST", "/api/execute", headers=with_key("shared-key"), body=json.dumps(BODY))
        event["requestContext"]["authorizer"] = {"tenantId": tenant}
        return api.call(SUBMIT, event)

    acme, globex = submit_as("acme"), submit_as("globex")
    assert acme.status == globex.status == 202
    assert acme.body["id"] != globex.body["id"]
    assert "Idempotent-Replayed" not in globex.headers
    assert submit_as("acme").body["id"] == acme.body["id"]
    assert len(executions(aws)) == 2


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "with space", "naïve", "tab\there"],
    ids=["empty", "too long", "space", "non-ascii", "tab"],
)
def test_a_malformed_key_is_400(api: Api, aws: LocalDeployment, key: str) -> None:
    answer = api.submit(BODY, headers=with_key(key))
    assert answer.status == 400
    assert answer.body["code"] == "invalid_idempotency_key"
    assert executions(aws) == []


def test_the_longest_key_is_fine(api: Api) -> None:
    assert api.submit(BODY, headers=with_key("k" * 255)).status == 202


def test_a_failed_first_request_is_not_remembered(api: Api, aws: LocalDeployment) -> None:
    # Given the first request with a key was refused (its plan is invalid)
    assert api.submit(plan({"id": "a", "dependsOn": ["zz"]}), headers=with_key("k-4")).status == 422
    # When the client fixes the plan and retries with the same key
    fixed = api.submit(BODY, headers=with_key("k-4"))
    # Then it is processed as new
    assert fixed.status == 202
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_retry_after_a_storage_timeout_creates_exactly_one_execution(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB times out on the first attempt (after boto3's retries)
    timeout = ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
    fail_call(monkeypatch, dynamodb_client(), "transact_write_items", 1, timeout)
    first = api.submit(BODY, headers=with_key("k-5"))
    assert first.status == 503
    # When the client retries with the same key, twice
    second = api.submit(BODY, headers=with_key("k-5"))
    third = api.submit(BODY, headers=with_key("k-5"))
    # Then one execution exists, and the second retry replays the first success
    assert second.status == third.status == 202
    assert third.body["id"] == second.body["id"]
    assert len(executions(aws)) == 1


class LambdaTimedOut(BaseException):
    """What the Lambda runtime does to a request that runs out of time: nothing gets to clean up."""


def test_a_retry_after_a_lambda_timeout_proceeds_once_the_attempt_expired(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a first attempt that was killed mid-way with a minute left on its Lambda clock
    function = aws.function(SUBMIT)
    handler = aws.handler(function)
    context = FakeLambdaContext(function, "first")
    monkeypatch.setattr(context, "get_remaining_time_in_millis", lambda: 60_000)
    real_submit = SubmissionService.submit

    def killed(*_: Any, **__: Any) -> Any:
        raise LambdaTimedOut

    monkeypatch.setattr(SubmissionService, "submit", killed)
    event = rest_api_event("POST", "/api/execute", headers=with_key("k-6"), body=json.dumps(BODY), tenant_id="local")
    with pytest.raises(LambdaTimedOut):
        handler(event, context)
    monkeypatch.setattr(SubmissionService, "submit", real_submit)
    # When the client retries while that attempt's time is not up, it still counts as running
    assert api.submit(BODY, headers=with_key("k-6")).status == 409
    # And once its time is up (moved to the past here rather than waited for), the retry runs, once
    records = boto3.client("dynamodb", region_name="us-east-1")
    [record] = all_items(records, aws.names["IdempotencyTable"])
    assert record["status"]["S"] == "INPROGRESS"
    records.update_item(
        TableName=aws.names["IdempotencyTable"],
        Key={"id": record["id"]},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int((time.time() - 1) * 1000))}},
    )
    retry = api.submit(BODY, headers=with_key("k-6"))
    assert retry.status == 202
    assert len(executions(aws)) == 1


def load_second_container(aws: LocalDeployment) -> Any:
    """The submit handler imported again under another name: a second warm Lambda container."""
    function = aws.function(SUBMIT)
    module_name = function.handler.rsplit(".", 1)[0]
    spec = importlib.util.spec_from_file_location(f"{module_name}_second", function.code_dir / f"{module_name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def test_two_concurrent_requests_with_one_key_make_one_execution(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two containers, and a first request that is still inside the service
    function = aws.function(SUBMIT)
    first_container, second_container = aws.handler(function), load_second_container(aws)
    inside, release = threading.Event(), threading.Event()
    real_submit = SubmissionService.submit

    def slow_submit(self: SubmissionService, *args: Any, **kwargs: Any) -> Any:
        inside.set()
        assert release.wait(10)
        return real_submit(self, *args, **kwargs)

    monkeypatch.setattr(SubmissionService, "submit", slow_submit)
    body = json.dumps(BODY)
    results: dict[str, Any] = {}

    def call(name: str, handler: Any) -> None:
        event = rest_api_event("POST", "/api/execute", headers=with_key("k-7"), body=body, tenant_id="local")
        results[name] = handler(event, FakeLambdaContext(function, name))

    first = threading.Thread(target=call, args=("first", first_container))
    first.start()
    assert inside.wait(10)
    # When the same key arrives at the other container meanwhile
    call("second", second_container)
    release.set()
    first.join(10)
    # Then the second is told the first is in flight, and exactly one execution exists
    assert results["second"]["statusCode"] == 409
    assert '"idempotency_key_in_flight"' in results["second"]["body"]
    assert results["first"]["statusCode"] == 202
    assert len(executions(aws)) == 1
    # And a later retry gets the first answer
    replay = api.submit(BODY, headers=with_key("k-7"))
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_without_a_key_nothing_is_recorded(api: Api, aws: LocalDeployment) -> None:
    api.submit(BODY)
    api.submit(BODY)
    records = stored_items(aws, "IdempotencyTable")
    assert records == []
    assert len(executions(aws)) == 2


def test_records_expire_after_24_hours_and_hold_no_secret(api: Api, aws: LocalDeployment) -> None:
    body = {**BODY, "options": {"webhookUrl": "https://example.com/h", "webhookSecret": "p4ssw0rd-secret"}}
    api.submit(body, headers=with_key("k-8"))
    [record] = stored_items(aws, "IdempotencyTable")
    assert 24 * 3600 - 60 <= int(record["expiration"]["N"]) - time.time() <= 24 * 3600
    assert "p4ssw0rd-secret" not in repr(record)
    assert "shared-key" not in repr(record)


def test_a_stored_execution_is_reported_even_if_its_record_cannot_be_completed(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the idempotency table fails just when the success is recorded (the execution is stored by then)
    from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

    def failing_save(*_: Any, **__: Any) -> None:
        raise RuntimeError("idempotency table unavailable")

    monkeypatch.setattr(DynamoDBPersistenceLayer, "save_success", failing_save)
    # When a keyed request is submitted
    answer = api.submit(BODY, headers=with_key("k-9"))
    # Then the client is told the truth: accepted, with the id of what was stored
    assert answer.status == 202
    [execution] = executions(aws)
    assert execution["executionId"]["S"] == answer.body["id"]
