"""Rules that hostile or odd input must not bend, through the real handlers: webhook URLs judged as
senders parse them, bounded answers, one parse whatever the headers, exact numbers, references in
keys, repeated headers, fail-closed tenancy, and nothing left behind by a killed submission."""

from __future__ import annotations

import json
from typing import Any

import pytest

from execution_api.core.aws_clients import dynamodb_client
from execution_api.core.limits import MAX_JOBS
from local.events import rest_api_event
from local.stack import FakeLambdaContext, LocalDeployment
from tests.support import JSON, STATUS, SUBMIT, Api, chain, fail_call, plan, stored_items

# ---- webhook URLs as the sender will parse them (WHATWG)


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254\\latest/meta-data/",
        "https://169.254.169.254\\@example.com/",
        "https://example.com\x00.evil/",
        "https://exa\x01mple.com/",
        "https://exa mple.com/",
        "https://example.com\t/",
        "https://[v1.fe80::a]/",
        "https://[::ffff:169.254.169.254]/",
        "https://0xa9.0xfe.0xa9.0xfe/",
        "https://169.254.43518/",
    ],
)
def test_webhook_urls_a_sender_would_aim_elsewhere_are_refused(api: Api, url: str) -> None:
    for options in ({"webhookUrl": url}, {"webhook": {"url": url}}, {"webhook": url}):
        answer = api.submit({**plan({"id": "a"}), "options": options})
        assert answer.status == 422, (options, answer.body)
        assert {v["code"] for v in answer.body["errors"]} & {"invalid_webhook_url", "webhook_host_not_allowed"}


def test_the_normalized_webhook_url_is_stored(api: Api, aws: LocalDeployment) -> None:
    answer = api.submit({**plan({"id": "a"}), "options": {"webhookUrl": "https://EXAMPLE.com:443/a/../hook"}})
    assert answer.status == 202
    execution = next(i for i in stored_items(aws) if i["sk"]["S"] == "EXECUTION")
    assert execution["webhookUrl"]["S"] == "https://example.com/hook"


# ---- bounded answers


def test_a_flood_of_violations_gives_a_small_answer_that_says_how_many(api: Api) -> None:
    # Given MAX_JOBS jobs that each break three rules
    body = json.dumps({"executionPlan": {"jobs": [{"id": "#"}] * MAX_JOBS}})
    # When it is submitted
    answer = api.submit(None, raw=body)
    # Then the answer lists 100 violations, says how many there were, and stays small
    assert answer.status == 422
    assert len(answer.body["errors"]) == 100
    assert answer.body["errorsTruncated"] is True
    assert answer.body["errorCount"] == 3 * MAX_JOBS - 1  # the first "#" is no duplicate
    assert len(json.dumps(answer.body)) < 64 * 1024
    assert "(and " in answer.body["error"]


def test_a_plan_over_max_jobs_gets_one_problem_whatever_its_jobs_hold(api: Api) -> None:
    # Given 60,000 jobs that each break rules, in a body under the size limit
    body = json.dumps({"executionPlan": {"jobs": [{"id": "#"}] * 60_000}, "typo": 1})
    assert len(body) < 1024 * 1024
    # When it is submitted
    answer = api.submit(None, raw=body)
    # Then the answer is the count alone: no job was checked
    assert answer.status == 422
    assert answer.body["errors"] == [
        {
            "pointer": "/executionPlan/jobs",
            "code": "too_many_jobs",
            "message": f"a plan has at most {MAX_JOBS} jobs, this one 60000",
        }
    ]
    assert answer.body["error"] == f"a plan has at most {MAX_JOBS} jobs, this one 60000"
    assert "errorCount" not in answer.body


def test_a_short_list_is_not_marked_truncated(api: Api) -> None:
    answer = api.submit(plan({"id": "#"}))
    assert "errorsTruncated" not in answer.body
    assert "errorCount" not in answer.body


# ---- one parse, one limit, whatever the headers


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"v": value}
    return value


@pytest.mark.parametrize(("depth", "status"), [(50, 202), (600, 400)])
def test_the_idempotency_key_never_changes_the_verdict_on_a_body(api: Api, depth: int, status: int) -> None:
    body = plan({"id": "a", "params": nested(depth)})
    without = api.submit(body)
    with_key = api.submit(body, headers={**JSON, "Idempotency-Key": f"depth-{depth}"})
    assert (without.status, with_key.status) == (status, status)
    if status == 400:
        assert without.body["code"] == with_key.body["code"] == "malformed_json"
        assert "nested" in without.body["detail"]


def test_413_comes_before_anything_the_body_holds(api: Api) -> None:
    for raw in ("[" * 1_200_000, "x" * 1_200_000, '{"executionPlan": ' + "[" * 1_100_000):
        answer = api.submit(None, raw=raw)
        assert answer.status == 413, answer.body
    assert api.submit(None, raw="[" * 1_200_000, headers={"Content-Type": "text/plain"}).status == 413


def test_params_keep_every_digit(api: Api, aws: LocalDeployment) -> None:
    raw = (
        '{"executionPlan": {"jobs": [{"id": "a", "operation": "x", "params": '
        '{"n": [1e-400, 3.141592653589793238462643383279, 1E2, '
        "1234567890123456789012345678901234567890, 0.10, 1e999]}}]}}"
    )
    assert api.submit(None, raw=raw).status == 202
    params = next(i for i in stored_items(aws) if i["sk"]["S"] == "JOB#a")["params"]["S"]
    assert params == (
        '{"n":[1E-400,3.141592653589793238462643383279,1E+2,1234567890123456789012345678901234567890,0.10,1E+999]}'
    )


def test_a_reference_in_an_object_key_must_be_declared(api: Api) -> None:
    answer = api.submit(plan({"id": "a", "params": {"inputs": {"_videoJobDependency:ghost": 1}}}))
    assert answer.status == 422
    violation = answer.violation("undeclared_dependency_reference")
    assert violation["pointer"] == "/executionPlan/jobs/0/params/inputs/_videoJobDependency:ghost"


@pytest.mark.parametrize("values", [["k-1", "k-2"], ["k-1", "k-1"]])
def test_a_repeated_idempotency_key_is_a_400(api: Api, values: list[str]) -> None:
    event = rest_api_event("POST", "/api/execute", headers=JSON, body=json.dumps(plan()), tenant_id="local")
    event["headers"]["Idempotency-Key"] = values[-1]
    event["multiValueHeaders"]["Idempotency-Key"] = values
    answer = api.call(SUBMIT, event)
    assert answer.status == 400
    assert answer.body["code"] == "invalid_idempotency_key"


# ---- fail closed


@pytest.mark.parametrize(
    ("function", "method", "path"),
    [(SUBMIT, "POST", "/api/execute"), (STATUS, "GET", "/api/execute/V1StGXR8_Z5jdHi6B-myT/status")],
)
def test_a_request_without_the_authorizers_tenant_is_refused(api: Api, function: str, method: str, path: str) -> None:
    event = rest_api_event(method, path, headers=JSON, body=json.dumps(plan()) if method == "POST" else None)
    event["pathParameters"] = {"id": "V1StGXR8_Z5jdHi6B-myT"} if method == "GET" else None
    answer = api.call(function, event)
    assert answer.status == 401
    assert answer.body["code"] == "unauthorized"
    assert all(i["sk"]["S"] != "EXECUTION" for i in stored_items(api.stack))


# ---- a submission killed at any instant leaves nothing that stays


class ProcessKilled(BaseException):
    """Stands for SIGKILL or a Lambda timeout: no except clause of the product catches it."""


@pytest.mark.parametrize("step", range(3))
@pytest.mark.parametrize("committed", [False, True], ids=["before-commit", "after-commit"])
def test_a_killed_submission_is_swept_away(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch, step: int, committed: bool
) -> None:
    # Given a finished execution that must survive, and a 250-job plan (three transactions) killed at a step
    survivor = api.submit(plan({"id": "keep"})).body["id"]
    client = dynamodb_client()
    real = client.transact_write_items
    fail_call(monkeypatch, client, "transact_write_items", step + 1, ProcessKilled(), after_it_ran=committed)
    with pytest.raises(ProcessKilled):
        api.submit(chain(250))
    monkeypatch.setattr(client, "transact_write_items", real)
    leftovers = [i for i in stored_items(aws) if survivor not in i["pk"]["S"]]
    if step == 2 and committed:
        # Killed after its last commit: the execution is whole (only its 202 was lost), and it stays
        execution_id = next(i["executionId"]["S"] for i in leftovers if i["sk"]["S"] == "EXECUTION")
        assert sweep(aws, monkeypatch) == 0
        assert len(api.status(execution_id).body["jobs"]) == 250
        return
    # Then readers see no new execution
    assert not any(i["sk"]["S"] == "EXECUTION" for i in leftovers)
    # When the scheduled sweeper runs once the grace time has passed
    removed = sweep(aws, monkeypatch)
    # Then nothing of the killed submission stays, and the finished execution is untouched
    assert [i for i in stored_items(aws) if survivor not in i["pk"]["S"]] == []
    assert removed == len(leftovers)
    assert api.status(survivor).status == 200


def test_the_sweeper_never_lets_a_swept_submission_finish(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 250-job submission paused after its first transaction while the sweeper runs
    client = dynamodb_client()
    real = client.transact_write_items
    calls = []

    def sweep_in_between(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            sweep(aws, monkeypatch)
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", sweep_in_between)
    answer = api.submit(chain(250))
    # Then the submission cannot commit its execution item: 503, and nothing stays
    assert answer.status == 503
    assert stored_items(aws) == []


def test_a_finished_large_submission_leaves_no_marker(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = api.submit(chain(250))
    assert answer.status == 202
    assert not any(i["pk"]["S"] == "PENDING_SUBMISSION" for i in stored_items(aws))
    assert sweep(aws, monkeypatch) == 0
    assert len(api.status(answer.body["id"]).body["jobs"]) == 250


def sweep(aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the template's scheduled sweeper as EventBridge would, its grace time already over."""
    from datetime import timedelta

    function = aws.function("SweeperFunction")
    module = function.load_module(aws.template.layer_dirs())
    monkeypatch.setattr(module, "GRACE", timedelta(seconds=-1))
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    result: dict[str, int] = aws.handler(function)(event, FakeLambdaContext(function, "sweep"))
    return result["removed"]
