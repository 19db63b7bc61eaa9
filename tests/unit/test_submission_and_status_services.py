"""SubmissionService and StatusService against in-memory fakes of the executions table and the KMS cipher
(StoredExecutions and SecretSealer, the protocols the real store and KMS cipher satisfy), and the
Idempotency-Key wrapper against an in-memory Powertools persistence layer: no AWS, no network."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from pydantic import SecretStr

from execution_api.api.status import StatusService
from execution_api.core.credentials import SEALED
from execution_api.core.errors import (
    ExecutionNotFound,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    PlanRejected,
    StorageUnavailable,
)
from execution_api.intake.idempotency import run_once
from execution_api.intake.rules import PlanLimits
from execution_api.intake.submission import SubmissionService
from execution_api.intake.validation import validate_submission
from execution_api.models.plan import ExecutionPlan
from execution_api.models.records import Execution, Job

TENANT = "acme"
NOW = datetime(2026, 11, 26, 7, 0, 0, 123_000, tzinfo=UTC)
FIRST_ID = "V1StGXR8_Z5jdHi6B-myT"
SECOND_ID = "Uakgb_J5m9g-0JDMbcJqL"
BASE_ID = "BaseExecution_0123456"  # a 21-character nanoid, as the service makes them
RETENTION_DAYS = 90
# The unit tests call run_once outside a Lambda invocation: there is no remaining time to register.
pytestmark = pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time left")


class InMemoryExecutions:
    """An StoredExecutions in a dict, keyed by tenant and execution id as the table is; it records each read."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[Execution, list[Job]]] = {}
        self.reads: list[tuple[str, str, str]] = []
        self.unavailable = False

    def create(self, execution: Execution, jobs: Sequence[Job]) -> None:
        key = (execution.tenant_id, execution.id)
        # As DynamoDB: a write that finds the id taken, or a throttled one, is refused whole (503, retry).
        if self.unavailable or key in self.items:
            raise StorageUnavailable("the executions table is unavailable")
        self.items[key] = (execution, list(jobs))

    def exists(self, tenant_id: str, execution_id: str) -> bool:
        self.reads.append(("exists", tenant_id, execution_id))
        return (tenant_id, execution_id) in self.items

    def get(self, tenant_id: str, execution_id: str, *, with_params: bool = True) -> tuple[Execution, list[Job]] | None:
        self.reads.append(("get", tenant_id, execution_id))
        found = self.items.get((tenant_id, execution_id))
        if found is None:
            return None
        execution, jobs = found
        ordered = sorted(jobs, key=lambda job: job.position)
        return execution, ordered if with_params else [replace(job, params={}) for job in ordered]


class FakeCipher:
    """A SecretSealer whose ciphertext shows what was sealed for which execution."""

    def __init__(self) -> None:
        self.sealed: list[tuple[str, str]] = []

    def seal(self, execution_id: str, secret: SecretStr) -> bytes:
        self.sealed.append((execution_id, secret.get_secret_value()))
        return f"sealed for {execution_id}: {secret.get_secret_value()}".encode()


def ids(*values: str) -> Any:
    remaining = list(values)
    return lambda: remaining.pop(0)


def service(store: InMemoryExecutions, cipher: FakeCipher | None = None, *new_ids: str) -> SubmissionService:
    return SubmissionService(
        store=store,
        cipher=cipher or FakeCipher(),
        retention_days=RETENTION_DAYS,
        new_id=ids(*(new_ids or (FIRST_ID, SECOND_ID))),
        clock=lambda: NOW,
    )


def plan(*jobs: dict[str, Any], **options: Any) -> ExecutionPlan:
    """A plan as the handler hands it over: validated by the one validation path."""
    body = {"executionPlan": {"jobs": [{"operation": "generateVideo", **job} for job in jobs]}}
    if options:
        body["options"] = options
    return validate_submission(json.loads(json.dumps(body)), PlanLimits())


def stored_base(store: InMemoryExecutions, tenant: str = TENANT, **statuses: str) -> None:
    """A base execution of `tenant` whose jobs have these statuses."""
    execution = Execution(
        id=BASE_ID,
        tenant_id=tenant,
        status="completed",
        created_at="2026-11-25T07:00:00.000Z",
        updated_at="2026-11-25T07:00:00.000Z",
        expires_at=0,
        root_job_ids=tuple(statuses),
        total_jobs=len(statuses),
    )
    jobs = [
        Job(id=job_id, position=n, operation="generateVideo", params={}, depends_on=(), output=None, status=status)
        for n, (job_id, status) in enumerate(statuses.items())
    ]
    store.items[(tenant, BASE_ID)] = (execution, jobs)


def rejection(error: pytest.ExceptionInfo[PlanRejected]) -> list[tuple[str, str, str]]:
    return [(v.pointer, v.code, v.message) for v in error.value.violations]


# ---- accepted


def test_an_accepted_plan_is_stored_pending_with_its_jobs_and_returned_as_stored() -> None:
    # Given an empty table
    store = InMemoryExecutions()
    # When a plan of two jobs, the second depending on the first, is submitted
    execution, jobs = service(store).submit(plan({"id": "a"}, {"id": "b", "dependsOn": ["a"]}), TENANT)
    # Then it is stored, under its tenant, exactly as returned
    assert store.items == {(TENANT, FIRST_ID): (execution, jobs)}
    assert execution == Execution(
        id=FIRST_ID,
        tenant_id=TENANT,
        status="pending",
        created_at="2026-11-26T07:00:00.123Z",
        updated_at="2026-11-26T07:00:00.123Z",
        expires_at=int((NOW + timedelta(days=RETENTION_DAYS)).timestamp()),
        root_job_ids=("a",),
        total_jobs=2,
    )
    assert [(j.id, j.position, j.operation, j.depends_on, j.status) for j in jobs] == [
        ("a", 0, "generateVideo", (), "pending"),
        ("b", 1, "generateVideo", ("a",), "pending"),
    ]


def test_each_submission_is_a_new_execution_with_a_new_id() -> None:
    # Replays are the Idempotency-Key's business, before the service: the service always creates.
    store = InMemoryExecutions()
    submit = service(store).submit
    first, _ = submit(plan({"id": "a"}), TENANT)
    second, _ = submit(plan({"id": "a"}), TENANT)
    assert (first.id, second.id) == (FIRST_ID, SECOND_ID)
    assert sorted(store.items) == [(TENANT, SECOND_ID), (TENANT, FIRST_ID)]


def test_an_empty_plan_is_accepted_as_an_execution_without_jobs() -> None:
    store = InMemoryExecutions()
    execution, jobs = service(store).submit(plan(), TENANT)
    assert (execution.total_jobs, execution.root_job_ids, jobs) == (0, (), [])


# ---- sealing


def test_a_plan_without_secrets_seals_nothing() -> None:
    cipher = FakeCipher()
    execution, jobs = service(InMemoryExecutions(), cipher).submit(plan({"id": "a", "params": {"p": 1}}), TENANT)
    assert cipher.sealed == []
    assert (execution.webhook_secret_ciphertext, execution.sealed_credentials) == (None, None)
    assert (jobs[0].params, jobs[0].sealed_params) == ({"p": 1}, {})


def test_the_webhook_secret_is_sealed_for_its_execution_and_the_url_stored_normalized() -> None:
    cipher = FakeCipher()
    webhook = {"url": "https://Hooks.Example.com:443/done", "secret": "whsec_abcd"}
    execution, _ = service(InMemoryExecutions(), cipher).submit(plan({"id": "a"}, webhook=webhook), TENANT)
    assert cipher.sealed == [(FIRST_ID, "whsec_abcd")]
    assert execution.webhook_secret_ciphertext == f"sealed for {FIRST_ID}: whsec_abcd".encode()
    assert execution.webhook_url == "https://hooks.example.com/done"


def test_credentials_in_params_and_provider_keys_are_sealed_once_and_never_stored_in_clear() -> None:
    # Given two jobs sharing one API key, and a provider key
    cipher = FakeCipher()
    store = InMemoryExecutions()
    submitted = plan(
        {"id": "a", "params": {"apiKey": "sk-1", "prompt": "a cat"}},
        {"id": "b", "params": {"nested": {"token": "sk-1"}}},
        providerApiKeys={"openai": "sk-provider"},
    )
    # When it is submitted
    execution, jobs = service(store, cipher).submit(submitted, TENANT)
    # Then one seal holds every distinct credential, bound to the execution
    [(execution_id, plaintext)] = cipher.sealed
    assert execution_id == FIRST_ID
    assert json.loads(plaintext) == {"values": ["sk-1"], "providerApiKeys": {"openai": "sk-provider"}}
    assert execution.sealed_credentials == f"sealed for {FIRST_ID}: {plaintext}".encode()
    # And the jobs keep a placeholder and where the value went
    assert [(j.params, j.sealed_params) for j in jobs] == [
        ({"apiKey": SEALED, "prompt": "a cat"}, {"/apiKey": 0}),
        ({"nested": {"token": SEALED}}, {"/nested/token": 0}),
    ]
    assert "sk-" not in repr(store.items[(TENANT, FIRST_ID)][1])


def test_credentials_over_kms_limit_are_refused_before_anything_is_sealed_or_stored() -> None:
    cipher = FakeCipher()
    store = InMemoryExecutions()
    jobs = [{"id": f"j{n}", "params": {"apiKey": f"{n:04d}" + "k" * 300}} for n in range(15)]
    with pytest.raises(PlanRejected) as error:
        service(store, cipher).submit(plan(*jobs), TENANT)
    assert [(p, c) for p, c, _ in rejection(error)] == [("", "credentials_too_large")]
    assert (cipher.sealed, store.items) == ([], {})


# ---- base executions


def test_a_plan_may_depend_on_completed_jobs_of_its_base_execution() -> None:
    store = InMemoryExecutions()
    stored_base(store, done="completed")
    execution, jobs = service(store).submit(
        plan({"id": "next", "dependsOn": ["done"]}, baseExecutionId=BASE_ID), TENANT
    )
    assert execution.base_execution_id == BASE_ID
    assert execution.root_job_ids == ("next",)  # its only dependency is already done
    assert (jobs[0].depends_on, jobs[0].base_depends_on) == (("done",), ("done",))
    assert store.reads == [("get", TENANT, BASE_ID)]


def test_a_base_job_that_is_not_completed_is_refused_where_it_is_named() -> None:
    store = InMemoryExecutions()
    stored_base(store, done="completed", busy="processing")
    with pytest.raises(PlanRejected) as error:
        service(store).submit(plan({"id": "next", "dependsOn": ["done", "busy"]}, baseExecutionId=BASE_ID), TENANT)
    assert rejection(error) == [
        (
            "/executionPlan/jobs/0/dependsOn/1",
            "base_job_not_complete",
            "job 'next' depends on 'busy' of the base execution, which is processing, not completed",
        )
    ]
    assert list(store.items) == [(TENANT, BASE_ID)]  # nothing new stored


def test_a_dependency_in_neither_the_plan_nor_the_base_is_unknown() -> None:
    store = InMemoryExecutions()
    stored_base(store, done="completed")
    with pytest.raises(PlanRejected) as error:
        service(store).submit(plan({"id": "next", "dependencies": ["gone"]}, baseExecutionId=BASE_ID), TENANT)
    assert rejection(error) == [
        (
            "/executionPlan/jobs/0/dependencies/0",
            "unknown_dependency",
            "job 'next' depends on 'gone', which is in neither the plan nor the base execution",
        )
    ]


@pytest.mark.parametrize("owner", [None, "another-tenant"], ids=["absent", "another-tenants"])
def test_an_unknown_base_execution_is_not_found(owner: str | None) -> None:
    # Given no base execution, or one that belongs to another tenant
    store = InMemoryExecutions()
    if owner:
        stored_base(store, tenant=owner, done="completed")
    # When a plan builds on it, with and without depending on its jobs
    for submitted in (
        plan({"id": "a"}, baseExecutionId=BASE_ID),
        plan({"id": "a", "dependsOn": ["done"]}, baseExecutionId=BASE_ID),
    ):
        with pytest.raises(PlanRejected) as error:
            service(store).submit(submitted, TENANT)
        # Then it is refused alike
        assert rejection(error) == [
            ("/options/baseExecutionId", "base_execution_not_found", f"no execution '{BASE_ID}' to build on")
        ]
    assert store.reads == [("exists", TENANT, BASE_ID), ("get", TENANT, BASE_ID)]


def test_a_base_that_only_has_to_exist_costs_one_small_read_and_a_malformed_id_none() -> None:
    store = InMemoryExecutions()
    stored_base(store, done="completed")
    execution, _ = service(store).submit(plan({"id": "a"}, baseExecutionId=BASE_ID), TENANT)
    assert (execution.base_execution_id, store.reads) == (BASE_ID, [("exists", TENANT, BASE_ID)])
    store.reads.clear()
    with pytest.raises(PlanRejected) as error:
        service(store).submit(plan({"id": "a"}, baseExecutionId="not-an-id"), TENANT)
    assert [c for _, c, _ in rejection(error)] == ["base_execution_not_found"]
    assert store.reads == []


# ---- failures of the table


def test_a_table_that_refuses_the_write_is_a_storage_failure_and_nothing_is_kept() -> None:
    store = InMemoryExecutions()
    store.unavailable = True
    with pytest.raises(StorageUnavailable):
        service(store).submit(plan({"id": "a"}), TENANT)
    assert store.items == {}


def test_an_id_that_is_already_taken_is_a_storage_failure_not_an_overwrite() -> None:
    # Given an execution stored under the id the service will draw
    store = InMemoryExecutions()
    original, _ = service(store, None, FIRST_ID).submit(plan({"id": "first"}), TENANT)
    # When another plan draws the same id
    with pytest.raises(StorageUnavailable):
        service(store, None, FIRST_ID).submit(plan({"id": "second"}), TENANT)
    # Then the first is untouched (a retry draws a new id)
    assert store.items[(TENANT, FIRST_ID)][0] == original
    assert [j.id for j in store.items[(TENANT, FIRST_ID)][1]] == ["first"]


# ---- status


def test_status_returns_the_execution_and_its_jobs_in_plan_order_without_params() -> None:
    store = InMemoryExecutions()
    stored, _ = service(store).submit(plan({"id": "z", "params": {"p": 1}}, {"id": "a", "dependsOn": ["z"]}), TENANT)
    execution, jobs = StatusService(store).status(TENANT, FIRST_ID)
    assert execution == stored
    assert [(j.id, j.position, j.params) for j in jobs] == [("z", 0, {}), ("a", 1, {})]


@pytest.mark.parametrize(
    ("tenant", "execution_id", "reads"),
    [
        (TENANT, SECOND_ID, 1),  # never stored
        ("another-tenant", FIRST_ID, 1),  # another tenant's
        (TENANT, "not-an-id", 0),  # malformed: cannot exist, so no read
    ],
    ids=["unknown", "another-tenants", "malformed"],
)
def test_status_of_an_execution_the_tenant_does_not_have_is_not_found(
    tenant: str, execution_id: str, reads: int
) -> None:
    store = InMemoryExecutions()
    service(store).submit(plan({"id": "a"}), TENANT)
    with pytest.raises(ExecutionNotFound) as error:
        StatusService(store).status(tenant, execution_id)
    assert error.value.execution_id == execution_id
    assert str(error.value).startswith("no execution ")  # words, for the SDK that shows only `error`
    assert len(store.reads) == reads


# ---- Idempotency-Key, as the submission sees it


class InMemoryIdempotencyRecords(BasePersistenceLayer):
    """Powertools' persistence layer in a dict: a record is written once, until completed or deleted."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}
        self.failing = False

    def _get_record(self, idempotency_key: str) -> DataRecord:
        if idempotency_key not in self.records:
            raise IdempotencyItemNotFoundError
        return self.records[idempotency_key]

    def _put_record(self, data_record: DataRecord) -> None:
        if self.failing:
            raise ConnectionError("the idempotency table is unreachable")
        if data_record.idempotency_key in self.records:
            raise IdempotencyItemAlreadyExistsError
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        del self.records[data_record.idempotency_key]


def counting(answer: dict[str, Any]) -> tuple[list[int], Any]:
    runs: list[int] = []

    def operation() -> dict[str, Any]:
        runs.append(1)
        return answer

    return runs, operation


def test_the_same_key_and_body_replay_the_first_answer_without_running_again() -> None:
    records = InMemoryIdempotencyRecords()
    runs, operation = counting({"id": FIRST_ID, "status": "pending"})
    first = run_once(TENANT, "key-1", {"plan": 1}, operation, persistence=records)
    again = run_once(TENANT, "key-1", {"plan": 1}, operation, persistence=records)
    assert first == ({"id": FIRST_ID, "status": "pending"}, False)
    assert again == ({"id": FIRST_ID, "status": "pending"}, True)
    assert len(runs) == 1


def test_a_key_belongs_to_its_tenant() -> None:
    records = InMemoryIdempotencyRecords()
    runs, operation = counting({"id": FIRST_ID})
    run_once(TENANT, "key-1", {"plan": 1}, operation, persistence=records)
    assert run_once("another-tenant", "key-1", {"plan": 1}, operation, persistence=records) == ({"id": FIRST_ID}, False)
    assert len(runs) == 2


def test_the_same_key_with_another_body_is_refused() -> None:
    records = InMemoryIdempotencyRecords()
    _, operation = counting({"id": FIRST_ID})
    run_once(TENANT, "key-1", {"plan": 1}, operation, persistence=records)
    with pytest.raises(IdempotencyKeyReused, match="different body"):
        run_once(TENANT, "key-1", {"plan": 2}, operation, persistence=records)


def test_a_key_still_running_is_in_flight_for_its_duplicates() -> None:
    records = InMemoryIdempotencyRecords()
    seen: list[Exception] = []

    def first_request() -> dict[str, Any]:
        # While the first request runs, a duplicate arrives.
        try:
            run_once(TENANT, "key-1", {"plan": 1}, lambda: {"id": SECOND_ID}, persistence=records)
        except IdempotencyKeyInFlight as error:
            seen.append(error)
        return {"id": FIRST_ID}

    assert run_once(TENANT, "key-1", {"plan": 1}, first_request, persistence=records) == ({"id": FIRST_ID}, False)
    assert [str(e) for e in seen] == [
        "a request with this Idempotency-Key is still being processed; retry shortly to get its answer"
    ]


def test_a_failed_request_leaves_no_record_so_the_key_can_be_retried() -> None:
    records = InMemoryIdempotencyRecords()

    def refused() -> dict[str, Any]:
        raise PlanRejected([])

    with pytest.raises(PlanRejected):
        run_once(TENANT, "key-1", {"plan": 1}, refused, persistence=records)
    assert records.records == {}
    assert run_once(TENANT, "key-1", {"plan": 1}, lambda: {"id": FIRST_ID}, persistence=records) == (
        {"id": FIRST_ID},
        False,
    )


def test_an_unreachable_idempotency_table_is_a_storage_failure_before_anything_runs() -> None:
    records = InMemoryIdempotencyRecords()
    records.failing = True
    runs, operation = counting({"id": FIRST_ID})
    with pytest.raises(StorageUnavailable, match="idempotency table"):
        run_once(TENANT, "key-1", {"plan": 1}, operation, persistence=records)
    assert runs == []
