"""moto with local/moto_transactions.py (one copy of a table per transaction, not one per action) keeps
DynamoDB's transaction semantics: all or nothing, conditions decided before anything sticks.

Each test runs against moto with the patch on; the last one runs random transactions with it and with
moto's own transact_write_items and finds the same answers and the same tables."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.table import Table

from local import moto_transactions
from local.ministack import free_port
from local.template import ACCOUNT_ID, REGION
from tests.support import all_items


def backend(region: str = REGION) -> DynamoDBBackend:
    return dynamodb_backends[ACCOUNT_ID][region]


def make_tables(client: Any, suffix: str = "") -> tuple[str, str]:
    """A table keyed like the executions table (pk, sk) and one with a hash key only (id)."""
    composite, simple = f"Composite{suffix}", f"Simple{suffix}"
    client.create_table(
        TableName=composite,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.create_table(
        TableName=simple,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return composite, simple


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A client for moto with the patch on; the tables Composite and Simple."""
    with mock_aws():
        assert moto_transactions.enable()
        client = boto3.client("dynamodb", region_name=REGION)
        make_tables(client)
        yield client


def item(pk: str, sk: str, **attributes: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{name: {"S": value} for name, value in attributes.items()}}


def put(pk: str, sk: str, condition: str | None = "attribute_not_exists(pk)", **attributes: str) -> dict[str, Any]:
    action: dict[str, Any] = {"TableName": "Composite", "Item": item(pk, sk, **attributes)}
    if condition:
        action["ConditionExpression"] = condition
    return {"Put": action}


def scan(client: Any, table: str = "Composite") -> list[dict[str, Any]]:
    items = all_items(client, table)
    return sorted(items, key=lambda i: sorted((k, str(v)) for k, v in i.items()))


def cancelled(error: ClientError) -> list[str]:
    assert error.response["Error"]["Code"] == "TransactionCanceledException", error.response
    return [reason["Code"] for reason in error.response["CancellationReasons"]]


def test_make_run_and_the_tests_use_it_on_moto_as_it_is_today() -> None:
    from local.backends import start_moto

    server = start_moto(free_port())
    server.stop()
    assert DynamoDBBackend.transact_write_items is moto_transactions._transact_write_items
    assert moto_transactions.patchable(), "moto's transact_write_items changed: re-check local/moto_transactions.py"


def test_a_failing_condition_in_a_transaction_leaves_no_item_written(dynamodb: Any) -> None:
    # Given an execution item already stored
    dynamodb.put_item(TableName="Composite", Item=item("E1", "EXECUTION", status="pending"))
    before = scan(dynamodb)
    # When a transaction puts four new items and, third, that existing one under attribute_not_exists
    actions = [put("E2", "JOB#a"), put("E2", "JOB#b"), put("E1", "EXECUTION"), put("E2", "JOB#c"), put("E2", "JOB#d")]
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=actions)
    # Then it is cancelled for that condition alone, and the table is exactly as before
    assert cancelled(raised.value) == ["None", "None", "ConditionalCheckFailed", "None", "None"]
    assert scan(dynamodb) == before


def test_a_cancelled_transaction_puts_back_what_it_updated_and_deleted(dynamodb: Any) -> None:
    dynamodb.put_item(TableName="Composite", Item=item("E1", "JOB#a", status="pending"))
    dynamodb.put_item(TableName="Composite", Item=item("E1", "JOB#b", status="pending"))
    dynamodb.put_item(TableName="Composite", Item=item("E1", "EXECUTION", status="pending"))
    dynamodb.put_item(TableName="Simple", Item={"id": {"S": "k"}, "n": {"N": "1"}})
    before, before_simple = scan(dynamodb), scan(dynamodb, "Simple")
    key_a = {"pk": {"S": "E1"}, "sk": {"S": "JOB#a"}}
    actions = [
        {
            "Update": {
                "TableName": "Composite",
                "Key": key_a,
                "UpdateExpression": "SET #s = :done",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":done": {"S": "completed"}},
            }
        },
        {"Delete": {"TableName": "Composite", "Key": {"pk": {"S": "E1"}, "sk": {"S": "JOB#b"}}}},
        {
            "Update": {
                "TableName": "Simple",
                "Key": {"id": {"S": "k"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        put("E1", "JOB#c"),
        {
            "ConditionCheck": {
                "TableName": "Composite",
                "Key": {"pk": {"S": "E1"}, "sk": {"S": "EXECUTION"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=actions)
    assert cancelled(raised.value)[-1] == "ConditionalCheckFailed"
    assert scan(dynamodb) == before
    assert scan(dynamodb, "Simple") == before_simple


def test_a_transaction_naming_one_item_twice_writes_nothing(dynamodb: Any) -> None:
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[put("E1", "JOB#a"), put("E1", "JOB#b"), put("E1", "JOB#a")])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert scan(dynamodb) == []


def test_an_invalid_item_in_a_transaction_writes_nothing(dynamodb: Any) -> None:
    wrong_key_type = {"Put": {"TableName": "Composite", "Item": {"pk": {"N": "1"}, "sk": {"S": "x"}}}}
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[put("E1", "JOB#a"), wrong_key_type, put("E1", "JOB#b")])
    assert scan(dynamodb) == []


def test_a_cancelled_transaction_leaves_no_stream_records(dynamodb: Any) -> None:
    def records() -> int:  # moto's rollback puts its copy of the table, with the copy's stream, in place
        shard = backend().tables["Composite"].stream_shard
        assert shard is not None
        return len(shard.items)

    dynamodb.put_item(TableName="Composite", Item=item("E1", "EXECUTION"))
    before = records()
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[put("E2", "JOB#a"), put("E1", "EXECUTION")])
    assert records() == before


def test_a_transaction_that_passes_writes_every_item(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[put("E1", f"JOB#{n}") for n in range(100)])
    assert len(scan(dynamodb)) == 100


def test_a_transaction_copies_each_table_it_touches_once(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reproducer of the upstream inefficiency: without the patch, Composite is copied 100 times."""
    copied: list[str] = []

    def count(table: Table, memo: Any) -> Table:
        copied.append(table.name)
        return table  # the transaction below commits: moto never puts its copy back

    monkeypatch.setattr(Table, "__deepcopy__", count, raising=False)
    actions = [put("E1", f"JOB#{n}") for n in range(99)]
    dynamodb.transact_write_items(
        TransactItems=[*actions, {"Put": {"TableName": "Simple", "Item": {"id": {"S": "k"}}}}]
    )
    assert sorted(copied) == ["Composite", "Simple"]
    assert len(scan(dynamodb)) == 99


def test_no_copy_of_a_table_outlives_its_transaction(dynamodb: Any) -> None:
    """moto's dashboard tracker keeps every model instance: left alone, it kept every copy, and make run
    on moto grew by the whole table at every transaction (gigabytes after a few hundred executions)."""
    for number in range(5):
        dynamodb.transact_write_items(TransactItems=[put(f"E{number}", f"JOB#{n}") for n in range(50)])
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[put("E9", "JOB#a"), put("E1", "JOB#1")])
    gc.collect()
    live = [id(table) for table in backend().tables.values()]
    assert [o.name for o in gc.get_objects() if isinstance(o, Table) and id(o) not in live] == []


# ---------------------------------------------------------------------------------------------------
# The same random transactions with the patch and with moto's own code: the same answers, the same tables

PKS = ("a", "b")
SKS = ("1", "2")
IDS = ("x", "y")
CONDITIONS = (None, "attribute_not_exists(#k)", "attribute_exists(#k)", "v = :zero", "v = :one")


@st.composite
def actions(draw: st.DrawFn) -> dict[str, Any]:
    simple = draw(st.booleans())
    key = (
        {"id": {"S": draw(st.sampled_from(IDS))}}
        if simple
        else item(draw(st.sampled_from(PKS)), draw(st.sampled_from(SKS)))
    )
    kind = draw(st.sampled_from(("Put", "Update", "Delete", "ConditionCheck")))
    condition = draw(st.sampled_from(CONDITIONS[1:] if kind == "ConditionCheck" else CONDITIONS))
    action: dict[str, Any] = {"TableName": "Simple" if simple else "Composite"}
    if kind == "Put":
        action["Item"] = {**key, "v": {"N": draw(st.sampled_from(("0", "1", "2")))}}
    else:
        action["Key"] = key
    if kind == "Update":
        action["UpdateExpression"] = draw(st.sampled_from(("SET v = :one", "ADD v :one", "REMOVE v")))
    values = {":zero": {"N": "0"}, ":one": {"N": "1"}}
    used = [name for name in values if name in (condition or "") + action.get("UpdateExpression", "")]
    if used:
        action["ExpressionAttributeValues"] = {name: values[name] for name in used}
    if condition:
        action["ConditionExpression"] = condition
        if "#k" in condition:
            action["ExpressionAttributeNames"] = {"#k": "id" if simple else "pk"}
    return {kind: action}


STATE = st.lists(st.tuples(st.sampled_from(PKS + IDS), st.sampled_from(SKS), st.sampled_from(("0", "1"))), max_size=6)


def outcome(client: Any, suffix: str, transaction: list[dict[str, Any]]) -> tuple[Any, ...]:
    for action in transaction:
        for body in action.values():
            body["TableName"] += suffix
    try:
        client.transact_write_items(TransactItems=transaction)
        answer: Any = "committed"
    except ClientError as error:
        reasons = error.response.get("CancellationReasons") or []
        answer = (error.response["Error"]["Code"], [r["Code"] for r in reasons])
    return answer, scan(client, "Composite" + suffix), scan(client, "Simple" + suffix)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=STATE, transaction=st.lists(actions(), min_size=1, max_size=5))
def test_random_transactions_end_as_with_plain_moto(
    state: list[tuple[str, str, str]], transaction: list[dict[str, Any]]
) -> None:
    import copy

    results = []
    for own in (False, True):
        with mock_aws(), pytest.MonkeyPatch.context() as patch:
            assert moto_transactions.enable()
            if own:
                patch.setattr(DynamoDBBackend, "transact_write_items", moto_transactions._original_transact_write_items)
            client = boto3.client("dynamodb", region_name=REGION)
            suffix = "_" + uuid.uuid4().hex[:8]
            composite, simple = make_tables(client, suffix)
            for first, second, value in state:
                if first in IDS:
                    client.put_item(TableName=simple, Item={"id": {"S": first}, "v": {"N": value}})
                else:
                    client.put_item(TableName=composite, Item={**item(first, second), "v": {"N": value}})
            results.append(outcome(client, suffix, copy.deepcopy(transaction)))
    assert results[0] == results[1]
