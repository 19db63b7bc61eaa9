"""The storage invariants (docs/data-model.md: all of an execution or none of it), with DynamoDB failures
injected where they hurt."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from execution_api.core.aws_clients import dynamodb_client, kms_client
from execution_api.intake.submission import submission_service
from execution_api.storage.executions import ExecutionStore
from local.stack import LocalDeployment
from tests.support import Api, chain, fail_call, plan, table_items


def client_error(code: str, operation: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"secret AWS detail for {code}"}, **extra}, operation)


@pytest.fixture
def round_trips() -> Counter[str]:
    """Counts every HTTP request the handlers' DynamoDB client sends, per operation (retries included)."""
    sent: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        sent[event_name.rsplit(".", 1)[-1]] += 1

    dynamodb_client().meta.events.register("before-send.dynamodb", count)
    return sent


# Past 99 jobs a marker item rides in the first and last transaction (sweep_abandoned), so 99 items each.
@pytest.mark.parametrize(("jobs", "transactions"), [(0, 1), (1, 1), (10, 1), (99, 1), (100, 2), (198, 3), (500, 6)])
def test_round_trips_per_accepted_post(
    api: Api, table: Any, round_trips: Counter[str], jobs: int, transactions: int
) -> None:
    # When a plan of n jobs is accepted
    answer = api.submit(chain(jobs))
    assert answer.status == 202
    # Then up to 99 jobs take one TransactWriteItems; larger plans one per 100 items, and nothing else
    assert round_trips == Counter({"TransactWriteItems": transactions})
    # And the 202 came after every item was written
    assert len(table_items(table)) == jobs + 1


def test_a_base_execution_costs_one_read(api: Api, round_trips: Counter[str]) -> None:
    base = api.submit(chain(1)).body["id"]
    round_trips.clear()
    assert api.submit({**chain(3), "options": {"baseExecutionId": base}}).status == 202
    assert round_trips == Counter({"GetItem": 1, "TransactWriteItems": 1})


def test_an_invalid_plan_costs_no_round_trip(api: Api, round_trips: Counter[str]) -> None:
    assert api.submit(plan({"id": "a", "dependsOn": ["a"]})).status == 422
    assert api.submit({**chain(2), "options": {"baseExecutionId": "V1StGXR8_Z5jdHi6B-myT"}, "x": 1}).status == 422
    assert sum(round_trips.values()) == 0


def test_a_reader_never_sees_a_partly_written_large_execution(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a reader that looks after every transaction of a 250-job submission
    client = dynamodb_client()
    reader = ExecutionStore(client, aws.names["ExecutionsTable"])
    real = client.transact_write_items
    seen: list[int | None] = []

    def write_then_read(**kwargs: Any) -> Any:
        result = real(**kwargs)
        puts = [action["Put"]["Item"] for action in kwargs["TransactItems"] if "Put" in action]
        execution_id = next(item["executionId"]["S"] for item in puts if "executionId" in item)
        found = reader.get("local", execution_id)
        seen.append(None if found is None else len(found[1]))
        return result

    monkeypatch.setattr(client, "transact_write_items", write_then_read)
    assert api.submit(chain(250)).status == 202
    # Then it saw nothing until the last transaction, and then all 250 jobs
    assert seen == [None, None, 250]


STORAGE_FAULTS = [
    client_error("ProvisionedThroughputExceededException", "TransactWriteItems"),
    client_error("ThrottlingException", "TransactWriteItems"),
    client_error("InternalServerError", "TransactWriteItems"),
    client_error(
        "TransactionCanceledException",
        "TransactWriteItems",
        CancellationReasons=[{"Code": "None"}, {"Code": "TransactionConflict"}],
    ),
    client_error(
        "TransactionCanceledException", "TransactWriteItems", CancellationReasons=[{"Code": "ConditionalCheckFailed"}]
    ),
    ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
]
FAULT_IDS = ["throughput", "throttling", "5xx", "conflict", "condition", "timeout"]
# Every write step of a small plan (one transaction) and of large ones (two and three transactions).
WRITE_STEPS = [(5, 1), (150, 1), (150, 2), (250, 1), (250, 2), (250, 3)]


@pytest.mark.parametrize(("jobs", "failing_call"), WRITE_STEPS, ids=[f"{j}jobs-step{c}" for j, c in WRITE_STEPS])
@pytest.mark.parametrize("error", STORAGE_FAULTS, ids=FAULT_IDS)
def test_a_failure_at_any_write_step_leaves_nothing_and_a_keyed_retry_makes_one_execution(
    api: Api, table: Any, monkeypatch: pytest.MonkeyPatch, jobs: int, failing_call: int, error: Exception
) -> None:
    # Given DynamoDB fails (after boto3's own retries) on one transaction of the submission
    fail_call(monkeypatch, dynamodb_client(), "transact_write_items", failing_call, error)
    key = {"Content-Type": "application/json", "Idempotency-Key": f"fault-{jobs}-{failing_call}"}
    # When the plan is submitted
    answer = api.submit(chain(jobs), headers=key)
    # Then the client is told to retry, nothing leaks, and no item of the execution is left behind
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.body["code"] == "service_unavailable"
    assert "secret AWS detail" not in json.dumps(answer.body)
    assert table_items(table) == []
    # And the same request with the same key succeeds once DynamoDB is back, exactly once
    monkeypatch.undo()
    retry = api.submit(chain(jobs), headers=key)
    assert retry.status == 202
    assert api.submit(chain(jobs), headers=key).body == retry.body
    assert len(table_items(table)) == jobs + 1


def test_a_small_plan_failure_leaves_nothing(api: Api, table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_call(monkeypatch, dynamodb_client(), "transact_write_items", 1, client_error("ThrottlingException", "X"))
    assert api.submit(chain(5)).status == 503
    assert table_items(table) == []


def test_an_unexpected_dynamodb_error_is_a_500_that_leaks_nothing(
    api: Api, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_call(monkeypatch, dynamodb_client(), "transact_write_items", 2, client_error("ValidationException", "X"))
    answer = api.submit(chain(150))
    assert answer.status == 500
    assert answer.body["code"] == "internal_error"
    assert answer.body["instance"]
    text = json.dumps(answer.body)
    for leak in ("secret AWS detail", "ValidationException", "Traceback", "File "):
        assert leak not in text
    assert table_items(table) == []


def test_an_existing_item_is_never_overwritten(api: Api, table: Any) -> None:
    # Given an execution, and a service that draws the same id again (a collision)
    first = api.submit(plan({"id": "a", "params": {"v": 1}})).body["id"]
    submission_service()._new_id = lambda: first  # type: ignore[attr-defined]
    # When another plan is submitted under that id
    answer = api.submit(plan({"id": "a", "params": {"v": 2}}))
    # Then it is refused (retryable: a retry draws a new id) and the first execution is intact
    assert answer.status == 503
    [job] = [i for i in table_items(table) if i["sk"] == "JOB#a"]
    assert json.loads(job["params"]) == {"v": 1}


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException", "GetItem"),
        client_error("ThrottlingException", "GetItem"),
        client_error("InternalServerError", "GetItem"),
        ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ],
    ids=["throughput", "throttling", "5xx", "timeout"],
)
def test_a_failed_base_lookup_is_503_and_a_keyed_retry_succeeds(
    api: Api, table: Any, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    base = api.submit(chain(1)).body["id"]
    client = dynamodb_client()
    real_get_item = client.get_item

    def failing_base_read(**kwargs: Any) -> Any:
        if kwargs.get("TableName") == table.name:  # the base check, not the idempotency record
            raise error
        return real_get_item(**kwargs)

    monkeypatch.setattr(client, "get_item", failing_base_read)
    body = {**chain(1), "options": {"baseExecutionId": base}}
    key = {"Content-Type": "application/json", "Idempotency-Key": "base-read"}
    answer = api.submit(body, headers=key)
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"
    assert len(table_items(table)) == 2  # only the base execution
    monkeypatch.undo()
    assert api.submit(body, headers=key).status == 202
    assert len(table_items(table)) == 4


def test_status_read_throttled_is_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    execution_id = api.submit(chain(1)).body["id"]
    fail_call(monkeypatch, dynamodb_client(), "query", 1, client_error("ThrottlingException", "Query"))
    answer = api.status(execution_id)
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"


def test_kms_unavailable_is_503_and_stores_nothing(api: Api, table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_call(monkeypatch, kms_client(), "encrypt", 1, client_error("KMSInternalException", "Encrypt"))
    body = {**chain(1), "options": {"webhookUrl": "https://example.com/h", "webhookSecret": "s3cr3t"}}
    answer = api.submit(body)
    assert answer.status == 503
    assert table_items(table) == []


def test_the_client_is_made_once_per_container(api: Api) -> None:
    api.submit(chain(1))
    client = dynamodb_client()
    api.submit(chain(1))
    api.status("V1StGXR8_Z5jdHi6B-myT")
    assert dynamodb_client() is client
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_large_params_split_transactions_below_dynamodbs_4_mb(api: Api, table: Any, configure: Any) -> None:
    # Given 70 jobs of 60 KB params each: 4.2 MB in all, more than one DynamoDB transaction carries (4 MB)
    configure("MAX_BODY_BYTES", str(8 * 1024 * 1024))
    round_trips: Counter[str] = Counter()
    dynamodb_client().meta.events.register(
        "before-send.dynamodb", lambda event_name, **_: round_trips.update([event_name.rsplit(".", 1)[-1]])
    )
    body = plan(*({"id": f"j{i}", "params": {"blob": "x" * 60_000}} for i in range(70)))
    # When it is accepted
    assert api.submit(body).status == 202
    # Then it took more than one transaction although it has fewer than 100 items, and every item is stored
    assert round_trips["TransactWriteItems"] > 1
    assert len(table_items(table)) == 71


def test_a_99_job_plan_under_the_body_limit_is_still_one_transaction(api: Api, table: Any) -> None:
    # Given 99 jobs of 9,000 characters of params each (about 900 KB, under MAX_BODY_BYTES)
    round_trips: Counter[str] = Counter()
    dynamodb_client().meta.events.register(
        "before-send.dynamodb", lambda event_name, **_: round_trips.update([event_name.rsplit(".", 1)[-1]])
    )
    body = plan(*({"id": f"j{i}", "params": {"text": "x" * 9_000}} for i in range(99)))
    # When it is accepted / Then it took one round trip
    assert api.submit(body).status == 202
    assert round_trips == Counter({"TransactWriteItems": 1})


# ---------------------------------------------------------------------------------------------------
# A write whose commit succeeded but whose answer was lost (found by make load against moto: 503 "nothing was
# stored" for executions that were stored, readable by id, and that no client ever got the id of)


LOST_ANSWERS = [
    # Every attempt timed out on the client side; the first one had committed.
    pytest.param(ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), id="timeout"),
    # What boto3's retry of that commit gets where the ClientRequestToken is not honoured (moto): the
    # items of the first attempt now exist.
    pytest.param(
        ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "ConditionalCheckFailed"}] * 6,
            },
            "TransactWriteItems",
        ),
        id="retry-after-commit",
    ),
]


@pytest.mark.parametrize("error", LOST_ANSWERS)
def test_a_commit_whose_answer_was_lost_is_either_accepted_or_leaves_nothing(
    api: Api, table: Any, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    # Given DynamoDB applies the transaction but the function never learns it did
    fail_call(monkeypatch, dynamodb_client(), "transact_write_items", 1, error, after_it_ran=True)
    # When a 5-job plan is submitted
    answer = api.submit(chain(5))
    items = table_items(table)
    # Then either the client gets the id of what was stored, or nothing of the execution is left
    if answer.status == 202:
        assert {item["executionId"] for item in items} == {answer.body["id"]}
        assert len(items) == 6
    else:
        assert answer.status == 503, answer.body
        assert items == [], f"a {answer.status} said nothing was stored, yet {len(items)} items are"
