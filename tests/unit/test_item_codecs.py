"""The storage codecs (storage.items, storage.keys, storage.stream, storage.webhook_state): what the store
writes it reads back as the same record; the engine's attributes, projected reads and stream records decode
to what they say; keys split back into the ids they were made of."""

from __future__ import annotations

import json
import re
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_api.models.records import Execution, Job, WebhookDelivery
from execution_api.storage.items import (
    JOB_ATTRIBUTES,
    execution_from_item,
    execution_item,
    job_from_item,
    job_item,
    json_text,
    prediction_note,
    prediction_ref,
)
from execution_api.storage.keys import EXECUTION_SK, execution_of, execution_pk, item_key, job_id_of, job_sk
from execution_api.storage.stream import ItemChange, item_change
from execution_api.storage.webhook_state import (
    attempt_update,
    claim_update,
    claimed_webhook_state,
    enqueued_update,
    webhook_delivery_from_item,
)

IDS = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=24)
STATES = st.sampled_from(["pending", "processing", "completed", "failed", "cancelled"])
MOMENTS = st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.") + "123Z")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
PARAMS = st.dictionaries(
    st.text(max_size=8), st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.lists(st.integers())
)


@st.composite
def executions(draw: st.DrawFn) -> Execution:
    """An execution as intake stores it: nothing yet of its outcome or its webhook's delivery."""
    return Execution(
        id=draw(IDS),
        tenant_id=draw(IDS),
        status=draw(STATES),
        created_at=draw(MOMENTS),
        updated_at=draw(MOMENTS),
        expires_at=draw(st.integers(0, 2**40)),
        root_job_ids=tuple(draw(st.lists(IDS, max_size=4))),
        total_jobs=draw(st.integers(0, 500)),
        base_execution_id=draw(st.none() | IDS),
        webhook_url=draw(st.none() | st.just("https://example.com/hook")),
        webhook_secret_ciphertext=draw(st.none() | st.binary(min_size=1, max_size=16)),
        sealed_credentials=draw(st.none() | st.binary(min_size=1, max_size=16)),
    )


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    """A job as intake stores it: the engine's attributes come later."""
    depends_on = tuple(draw(st.lists(IDS, max_size=4, unique=True)))
    return Job(
        id=draw(IDS),
        position=draw(st.integers(0, 499)),
        operation=draw(st.sampled_from(["merge", "generate", "upscale"])),
        params=draw(PARAMS),
        depends_on=depends_on,
        output=draw(st.none() | st.just("$job1")),
        status=draw(STATES),
        base_depends_on=tuple(d for d in depends_on if draw(st.booleans())),
        sealed_params=draw(st.dictionaries(st.just("/apiKey") | st.just("/headers/x"), st.integers(0, 9))),
        send_webhook=draw(st.booleans()),
    )


@given(executions(), st.text(string.hexdigits, min_size=32, max_size=32))
def test_an_execution_reads_back_as_it_was_written(execution: Execution, write_id: str) -> None:
    item = execution_item(execution, write_id)
    assert item["pk"] == {"S": execution_pk(execution.tenant_id, execution.id)}
    assert (item["sk"], item["writeId"], item["entity"]) == ({"S": "EXECUTION"}, {"S": write_id}, {"S": "execution"})
    assert execution_from_item(item) == execution


@given(executions(), jobs())
def test_a_job_reads_back_as_it_was_written(execution: Execution, job: Job) -> None:
    item = job_item(execution, job, "w")
    assert item["sk"] == {"S": f"JOB#{job.id}"}
    assert item["executionId"] == {"S": execution.id}
    assert ("jobWebhook" in item) is job.send_webhook
    stored = Job(**{**vars(job), "updated_at": execution.updated_at})  # a job's first change is its creation
    assert job_from_item(item) == stored
    # The status read leaves params out, and nothing else
    assert job_from_item(item, with_params=False) == Job(**{**vars(stored), "params": {}})


def test_a_job_is_stored_with_its_params_text_as_intake_serialized_it() -> None:
    execution = Execution("e", "t", "pending", "c", "u", 1, ("a",), 1)
    job = Job("a", 0, "merge", {"fps": 1}, (), None, params_text='{"fps":23.976000}')
    assert job_item(execution, job, "w")["params"] == {"S": '{"fps":23.976000}'}


def test_sealed_params_are_stored_as_compact_ascii_escaped_json_text() -> None:
    # Given a job with a credential sealed under a key that is not ASCII
    execution = Execution("e", "t", "pending", "c", "u", 1, ("a",), 1)
    job = Job("a", 0, "merge", {"clé": {"apiKey": "[sealed]"}}, (), None, sealed_params={"/clé/apiKey": 0})
    # When it is stored, then the pointer is escaped as it always was, and reads back as it was
    item = job_item(execution, job, "w")
    assert item["sealedParams"] == {"S": '{"/cl\\u00e9/apiKey":0}'}
    assert job_from_item(item).sealed_params == {"/clé/apiKey": 0}


def test_the_engines_attributes_are_read_into_the_job_record() -> None:
    # Given a job item as the engine leaves it mid-run: dependents, a completed and a failed dependency,
    # a parked gate token, a prediction noted on it, a result and an error as JSON text
    item = {
        **job_item(
            Execution("e", "t", "pending", "c", "u", 1, ("a",), 1), Job("j", 3, "merge", {}, ("a", "b"), None), "w"
        ),
        "status": {"S": "pending"},
        "dependents": {"L": [{"S": "k"}, {"S": "l"}]},
        "doneDependencies": {"SS": ["a"]},
        "failedDependency": {"S": "b"},
        "gateToken": {"S": "token-1"},
        "prediction": {"M": {"provider": {"S": "fal"}, "id": {"S": "p1"}, "ref": {"S": "ref-1"}}},
        "result": {"S": json_text({"outputs": [{"url": "s3://b/k"}]})},
        "error": {"S": json_text("Dependency job failed: b")},
        "startedAt": {"S": "2026-11-26T07:48:50.001Z"},
        "completedAt": {"S": "2026-11-26T07:48:56.889Z"},
    }
    # When it is read
    job = job_from_item(item)
    # Then the record says it all, and its repr leaves the gate's task token out
    assert "token-1" not in repr(job)
    assert (job.dependents, job.done_dependencies, job.failed_dependency) == (("k", "l"), ("a",), "b")
    assert (job.gate_token, job.prediction_ref, job.completed_at) == ("token-1", "ref-1", "2026-11-26T07:48:56.889Z")
    assert job.started_at == "2026-11-26T07:48:50.001Z"
    assert (job.result, job.error) == ({"outputs": [{"url": "s3://b/k"}]}, "Dependency job failed: b")


@given(IDS, IDS, IDS)
def test_the_prediction_noted_on_a_job_reads_back_by_its_ref(provider: str, prediction_id: str, ref: str) -> None:
    # Given the note storage.predictions writes on a job item (the stored map: provider, id, ref)
    note = prediction_note(provider, prediction_id, ref)
    assert note == {"M": {"provider": {"S": provider}, "id": {"S": prediction_id}, "ref": {"S": ref}}}
    # When the job item is read, whole or projected to the note alone, then the ref is found
    item = job_item(Execution("e", "t", "pending", "c", "u", 1, ("j",), 1), Job("j", 0, "x", {}, (), None), "w")
    assert job_from_item({**item, "prediction": note}).prediction_ref == ref
    assert prediction_ref({"prediction": note}) == ref
    assert prediction_ref({}) is None


def test_a_job_without_engine_state_reads_as_a_fresh_one() -> None:
    item = job_item(Execution("e", "t", "pending", "c", "u", 1, ("a",), 1), Job("j", 0, "merge", {}, (), None), "w")
    job = job_from_item(item)
    assert (job.dependents, job.done_dependencies, job.failed_dependency, job.gate_token, job.prediction_ref) == (
        (),
        (),
        None,
        None,
        None,
    )


def test_a_projected_read_needs_only_the_record_attributes() -> None:
    # Given a job item read with JOB_ATTRIBUTES only (what JobStore's projected reads always include)
    names = [name.strip().lstrip("#") for name in JOB_ATTRIBUTES.split(",")]
    full = job_item(
        Execution("e", "t", "pending", "c", "u", 1, ("a",), 1), Job("j", 7, "merge", {"x": 1}, ("a",), "$j"), "w"
    )
    projected = {name: full[name] for name in names}
    # When it is read, then it is that job without what was left out
    assert job_from_item(projected, with_params=False) == Job("j", 7, "merge", {}, ("a",), None)


def test_a_job_whose_in_plan_dependencies_exclude_the_base_executions() -> None:
    job = Job("j", 0, "merge", {}, ("a", "base1", "b"), None, base_depends_on=("base1",))
    assert job.in_plan_dependencies == ["a", "b"]


@given(JSON)
def test_a_result_or_error_reads_back_as_the_engine_wrote_it(value: Any) -> None:
    # JobStore writes result and error as json_text; the codec reads them back whatever their shape
    item = job_item(Execution("e", "t", "pending", "c", "u", 1, ("a",), 1), Job("j", 0, "merge", {}, (), None), "w")
    text = json_text(value)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert job_from_item({**item, "result": {"S": text}, "error": {"S": text}}).result == value


@given(IDS, IDS, IDS)
def test_keys_split_back_into_their_ids(tenant_id: str, execution_id: str, job_id: str) -> None:
    assert execution_of(execution_pk(tenant_id, execution_id)) == (tenant_id, execution_id)
    assert job_id_of(job_sk(job_id)) == job_id
    assert job_id_of(EXECUTION_SK) is None
    assert item_key("p", "s") == {"pk": {"S": "p"}, "sk": {"S": "s"}}


@pytest.mark.parametrize(
    "pk", ["PENDING_SUBMISSION", "PREDICTION#abc", "TENANT#acme#PROVIDERKEYS", "TENANT##EXECUTION#e", ""]
)
def test_other_partition_keys_are_no_executions(pk: str) -> None:
    with pytest.raises(ValueError, match="not an execution's partition key"):
        execution_of(pk)


def stream_record(event: str, keys: tuple[str, str], old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": item_key(*keys), "NewImage": {**item_key(*keys), **new}}
    if old is not None:
        change["OldImage"] = {**item_key(*keys), **old}
    return {"eventName": event, "dynamodb": change}


def test_a_stream_record_of_an_inserted_execution_says_which_one() -> None:
    record = stream_record("INSERT", (execution_pk("acme", "E1"), "EXECUTION"), None, {"status": {"S": "pending"}})
    assert item_change(record) == ItemChange("INSERT", "acme", "E1", None, "pending", None, wants_webhook=False)


def test_a_stream_record_of_a_job_that_ended_says_whether_it_wants_its_webhook() -> None:
    keys = (execution_pk("acme", "E1"), "JOB#a")
    ended = stream_record(
        "MODIFY", keys, {"status": {"S": "processing"}}, {"status": {"S": "failed"}, "jobWebhook": {"BOOL": True}}
    )
    assert item_change(ended) == ItemChange("MODIFY", "acme", "E1", "a", "failed", "processing", wants_webhook=True)
    quiet = stream_record("MODIFY", keys, {"status": {"S": "processing"}}, {"status": {"S": "failed"}})
    assert item_change(quiet) == ItemChange("MODIFY", "acme", "E1", "a", "failed", "processing", wants_webhook=False)


def test_an_execution_with_a_webhook_url_wants_its_webhook() -> None:
    new = {"status": {"S": "completed"}, "webhookUrl": {"S": "https://example.com/h"}}
    record = stream_record("MODIFY", (execution_pk("acme", "E1"), "EXECUTION"), {"status": {"S": "processing"}}, new)
    assert item_change(record) == ItemChange(
        "MODIFY", "acme", "E1", None, "completed", "processing", wants_webhook=True
    )


@pytest.mark.parametrize(
    "keys",
    [
        ("PENDING_SUBMISSION", "2026-11-26T07:48:56.889Z#TENANT#acme#EXECUTION#E1"),
        ("PREDICTION#ref", "PREDICTION"),
        ("TENANT#acme#PROVIDERKEYS", "PROVIDERKEY#fal"),
        (execution_pk("acme", "E1"), "SOMETHING"),
    ],
    ids=["submission-marker", "prediction", "provider-key", "unknown-sort-key"],
)
def test_a_stream_record_of_another_item_is_no_change_of_an_execution(keys: tuple[str, str]) -> None:
    assert item_change(stream_record("INSERT", keys, None, {"status": {"S": "pending"}})) is None


def test_a_stream_record_without_keys_or_images_is_nothing() -> None:
    assert item_change({"eventName": "MODIFY"}) is None
    assert item_change({"eventName": "MODIFY", "dynamodb": {}}) is None


def test_a_claimed_webhook_state_reads_back_as_a_delivery_not_yet_queued() -> None:
    state = claimed_webhook_state("msg_E1", "2026-11-26T07:48:56.889Z")
    assert webhook_delivery_from_item({"webhook": state}) == WebhookDelivery("msg_E1", attempts=0, enqueued=False)
    assert webhook_delivery_from_item({}) is None


def apply(state: dict[str, Any], expression: str, values: dict[str, Any]) -> dict[str, Any]:
    """What DynamoDB does with a `SET #w.field = :value, ...` on the `webhook` map (if_not_exists included)."""
    fields = dict(state["M"])
    for assignment in re.split(r", (?=#w\.)", expression.removeprefix("SET ")):
        target, value = assignment.split(" = ")
        field = target.removeprefix("#w.")
        if value.startswith("if_not_exists("):
            value = value.rstrip(")").split(", ")[1]
            fields.setdefault(field, values[value])
        else:
            fields[field] = values[value]
    return {"M": fields}


@given(st.integers(1, 9), st.none() | st.integers(100, 599), st.none() | st.text(max_size=8), st.booleans())
def test_each_update_of_the_webhook_map_reads_back_as_the_delivery_it_records(
    attempt: int, status: int | None, error: str | None, delivered: bool
) -> None:
    # Given a claimed delivery, its message queued, then an attempt that was delivered or given up
    claim = claim_update("msg_E1", "2026-11-26T07:48:56.889Z")
    assert claim.expression == "SET #w = :w"
    state = claim.values[":w"]
    enqueued = enqueued_update("2026-11-26T07:48:57.000Z")
    state = apply(state, enqueued.expression, enqueued.values)
    update = attempt_update(attempt, status, error, "2026-11-26T07:49:00.000Z", delivered, not delivered)
    state = apply(state, update.expression, update.values)
    # When the map is read, then it is that delivery; no status or error is stored as NULL
    moment = "2026-11-26T07:49:00.000Z"
    assert webhook_delivery_from_item({"webhook": state}) == WebhookDelivery(
        "msg_E1",
        attempts=attempt,
        last_status=status,
        delivered_at=moment if delivered else None,
        given_up_at=None if delivered else moment,
        enqueued=True,
    )
    assert (state["M"]["lastError"] == {"NULL": True}) is (error is None)
