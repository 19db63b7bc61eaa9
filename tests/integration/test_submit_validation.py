"""Every validation rule of POST /api/execute (docs/api.md, "The rules"), through the real submit handler: status, code, pointer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from execution_api.core.limits import (
    MAX_JOB_ID_LENGTH,
    MAX_OPERATION_LENGTH,
    MAX_OUTPUT_LENGTH,
    MAX_PROVIDER_KEY_LENGTH,
    MAX_PROVIDER_NAME_LENGTH,
)
from tests.support import Api, plan

VALID_JOB = {"id": "job1", "operation": "generateVideo"}


def with_options(**options: Any) -> dict[str, Any]:
    return {**plan(VALID_JOB), "options": options}


# (case, body, pointer, code): each body breaks exactly one rule.
REJECTED: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing plan", {}, "/executionPlan", "missing_field"),
    ("missing jobs", {"executionPlan": {}}, "/executionPlan/jobs", "missing_field"),
    ("jobs not a list", {"executionPlan": {"jobs": {}}}, "/executionPlan/jobs", "invalid_type"),
    ("unknown top-level field", {**plan(VALID_JOB), "extra": 1}, "/extra", "unknown_field"),
    ("typo dependOn", plan(VALID_JOB, {"id": "b", "dependOn": ["job1"]}), "/executionPlan/jobs/1/dependOn", "unknown_field"),
    ("unknown plan field", plan(VALID_JOB, rootJobs=["job1"]), "/executionPlan/rootJobs", "unknown_field"),
    ("unknown options field", with_options(retries=3), "/options/retries", "unknown_field"),
    ("missing id", plan({"operation": "merge"}), "/executionPlan/jobs/0/id", "missing_field"),
    ("empty id", plan({"id": ""}), "/executionPlan/jobs/0/id", "invalid_job_id"),
    ("id too long", plan({"id": "j" * 129}), "/executionPlan/jobs/0/id", "invalid_job_id"),
    ("id bad character", plan({"id": "job 1"}), "/executionPlan/jobs/0/id", "invalid_job_id"),
    ("id not a string", plan({"id": 1}), "/executionPlan/jobs/0/id", "invalid_type"),
    ("duplicate id", plan(VALID_JOB, VALID_JOB), "/executionPlan/jobs/1/id", "duplicate_job_id"),
    ("missing operation", {"executionPlan": {"jobs": [{"id": "a"}]}}, "/executionPlan/jobs/0", "missing_field"),
    ("operation and type", plan({"id": "a", "type": "merge"}), "/executionPlan/jobs/0", "conflicting_fields"),
    ("operation starts with digit", plan({"id": "a", "operation": "1merge"}), "/executionPlan/jobs/0/operation", "invalid_operation"),
    ("operation too long", plan({"id": "a", "operation": "m" * 65}), "/executionPlan/jobs/0/operation", "invalid_operation"),
    ("type bad character", {"executionPlan": {"jobs": [{"id": "a", "type": "merge!"}]}}, "/executionPlan/jobs/0/type", "invalid_operation"),
    ("params not an object", plan({"id": "a", "params": [1]}), "/executionPlan/jobs/0/params", "invalid_type"),
    ("params null", plan({"id": "a", "params": None}), "/executionPlan/jobs/0/params", "invalid_type"),
    ("dependsOn not a list", plan({"id": "a", "dependsOn": "b"}), "/executionPlan/jobs/0/dependsOn", "invalid_type"),
    ("dependsOn and dependencies", plan({"id": "a", "dependsOn": [], "dependencies": []}), "/executionPlan/jobs/0", "conflicting_fields"),
    ("duplicate dependency", plan(VALID_JOB, {"id": "b", "dependsOn": ["job1", "job1"]}), "/executionPlan/jobs/1/dependsOn/1", "duplicate_dependency"),
    ("self dependency", plan({"id": "a", "dependsOn": ["a"]}), "/executionPlan/jobs/0/dependsOn/0", "self_dependency"),
    ("unknown dependency", plan(VALID_JOB, {"id": "b", "dependsOn": ["jobX"]}), "/executionPlan/jobs/1/dependsOn/0", "unknown_dependency"),
    ("unknown dependency (SDK alias)", plan(VALID_JOB, {"id": "b", "dependencies": ["jobX"]}), "/executionPlan/jobs/1/dependencies/0", "unknown_dependency"),
    ("cycle", plan({"id": "a", "dependsOn": ["b"]}, {"id": "b", "dependsOn": ["a"]}), "/executionPlan/jobs/0/dependsOn/0", "dependency_cycle"),
    ("undeclared reference", plan(VALID_JOB, {"id": "b", "params": {"v": "_videoJobDependency:job1"}}), "/executionPlan/jobs/1/params/v", "undeclared_dependency_reference"),
    ("reference to a missing job", plan({"id": "a", "params": {"x": ["_audioJobDependency:ghost"]}}), "/executionPlan/jobs/0/params/x/0", "undeclared_dependency_reference"),
    ("duplicate root", plan(VALID_JOB, rootJobIds=["job1", "job1"]), "/executionPlan/rootJobIds/1", "duplicate_root_job_id"),
    ("unknown root", plan(VALID_JOB, rootJobIds=["job1", "nope"]), "/executionPlan/rootJobIds/1", "unknown_root_job_id"),
    ("root missing", plan(VALID_JOB, {"id": "b"}, rootJobIds=["job1"]), "/executionPlan/rootJobIds", "root_jobs_mismatch"),
    ("root not a list", plan(VALID_JOB, rootJobIds="job1"), "/executionPlan/rootJobIds", "invalid_type"),
    ("webhook http", with_options(webhookUrl="http://example.com/hook"), "/options/webhookUrl", "insecure_webhook_url"),
    ("webhook relative", with_options(webhookUrl="/hook"), "/options/webhookUrl", "invalid_webhook_url"),
    ("webhook too long", with_options(webhookUrl="https://example.com/" + "a" * 2040), "/options/webhookUrl", "invalid_webhook_url"),
    ("webhook loopback", with_options(webhookUrl="https://127.0.0.1/hook"), "/options/webhookUrl", "webhook_host_not_allowed"),
    ("webhook decimal IP", with_options(webhookUrl="https://2130706433/"), "/options/webhookUrl", "webhook_host_not_allowed"),
    ("webhook mapped IPv6", with_options(webhookUrl="https://[::ffff:127.0.0.1]/"), "/options/webhookUrl", "webhook_host_not_allowed"),
    ("webhook metadata", with_options(webhookUrl="https://169.254.169.254/latest"), "/options/webhookUrl", "webhook_host_not_allowed"),
    ("webhook private", with_options(webhook={"url": "https://10.1.2.3/"}), "/options/webhook/url", "webhook_host_not_allowed"),
    ("webhook localhost", with_options(webhookUrl="https://localhost/hook"), "/options/webhookUrl", "webhook_host_not_allowed"),
    ("secret without url", with_options(webhookSecret="s"), "/options", "webhook_secret_without_url"),
    ("secret empty", with_options(webhookUrl="https://example.com/h", webhookSecret=""), "/options/webhookSecret", "invalid_webhook_secret"),
    ("secret too long", with_options(webhookUrl="https://example.com/h", webhookSecret="s" * 513), "/options/webhookSecret", "invalid_webhook_secret"),
    ("both webhook forms", with_options(webhookUrl="https://example.com/h", webhook={"url": "https://example.com/h"}), "/options", "conflicting_fields"),
    ("webhook form without url", with_options(webhook={"secret": "s"}), "/options/webhook/url", "missing_field"),
    ("base ids differ", {"executionPlan": {"jobs": [], "baseExecutionId": "V1StGXR8_Z5jdHi6B-myT"}, "options": {"baseExecutionId": "A1StGXR8_Z5jdHi6B-myT"}}, "", "conflicting_fields"),
    ("base unknown", with_options(baseExecutionId="V1StGXR8_Z5jdHi6B-myT"), "/options/baseExecutionId", "base_execution_not_found"),
    ("base unknown (SDK place)", {"executionPlan": {"jobs": [], "baseExecutionId": "V1StGXR8_Z5jdHi6B-myT"}}, "/executionPlan/baseExecutionId", "base_execution_not_found"),
    ("base malformed", with_options(baseExecutionId="../../etc"), "/options/baseExecutionId", "base_execution_not_found"),
    ("base too long", with_options(baseExecutionId="x" * 200), "/options/baseExecutionId", "base_execution_not_found"),
    ("output too long", plan({"id": "a", "output": "$" * 257}), "/executionPlan/jobs/0/output", "invalid_output"),
    ("provider name too long", with_options(providerApiKeys={"p" * 65: "k"}), "/options/providerApiKeys/" + "p" * 65, "invalid_provider_api_key"),
    ("provider key too long", with_options(providerApiKeys={"replicate": "k" * 2049}), "/options/providerApiKeys/replicate", "invalid_provider_api_key"),
]  # fmt: skip


def test_each_length_is_accepted_at_its_limit(api: Api) -> None:
    # Given every bounded field exactly as long as execution_api.core.limits allows
    body = {
        **plan(
            {"id": "j" * MAX_JOB_ID_LENGTH, "operation": "g" * MAX_OPERATION_LENGTH, "output": "$" * MAX_OUTPUT_LENGTH}
        ),
        "options": {"providerApiKeys": {"p" * MAX_PROVIDER_NAME_LENGTH: "k" * MAX_PROVIDER_KEY_LENGTH}},
    }
    # When it is submitted / Then it is accepted
    answer = api.submit(body)
    assert answer.status == 202, answer.body


@pytest.mark.parametrize(("body", "pointer", "code"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_each_rule_is_refused_with_its_pointer_and_code(
    api: Api, body: dict[str, Any], pointer: str, code: str
) -> None:
    # Given a body breaking one rule / When it is submitted
    answer = api.submit(body)
    # Then 422 problem+json names that rule at that place
    assert answer.status == 422, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "validation_failed"
    assert {"pointer": pointer, "code": code} in [
        {"pointer": e["pointer"], "code": e["code"]} for e in answer.body["errors"]
    ]


def test_the_problem_body_has_every_documented_member(api: Api) -> None:
    answer = api.submit(plan(VALID_JOB, {"id": "b", "dependsOn": ["jobX"]}))
    assert answer.body == {
        "type": "https://errors.execution-api.dev/validation",
        "title": "Invalid execution plan",
        "status": 422,
        "detail": "job 'b' depends on 'jobX', which is not in the plan",
        "code": "validation_failed",
        "error": "job 'b' depends on 'jobX', which is not in the plan",
        "instance": answer.body["instance"],
        "errors": [
            {
                "pointer": "/executionPlan/jobs/1/dependsOn/0",
                "code": "unknown_dependency",
                "message": "job 'b' depends on 'jobX', which is not in the plan",
            }
        ],
    }
    assert answer.body["instance"]


def test_schema_and_graph_problems_come_back_together(api: Api) -> None:
    # Given a typo (schema), a bad operation (schema), an unknown dependency and a cycle (graph)
    body = plan(
        {"id": "a", "dependsOn": ["b"], "dependOn": []},
        {"id": "b", "operation": "9bad", "dependsOn": ["a"]},
        {"id": "c", "dependsOn": ["zzz"]},
    )
    # When it is submitted
    answer = api.submit(body)
    # Then every problem is listed in one answer
    assert answer.status == 422
    assert set(answer.codes) == {"unknown_field", "invalid_operation", "unknown_dependency", "dependency_cycle"}
    assert answer.body["detail"] == answer.body["errors"][0]["message"] + " (and 3 more)"


def test_the_cycle_is_named_in_order(api: Api) -> None:
    body = plan({"id": "job1", "dependsOn": ["job3"]}, {"id": "job2"}, {"id": "job3", "dependsOn": ["job1"]})
    answer = api.submit(body)
    assert "job1 -> job3 -> job1" in answer.violation("dependency_cycle")["message"]


def test_root_mismatch_names_missing_and_extra_ids(api: Api) -> None:
    body = plan({"id": "a"}, {"id": "b", "dependsOn": ["a"]}, {"id": "c"}, rootJobIds=["a", "b"])
    message = api.submit(body).violation("root_jobs_mismatch")["message"]
    assert "missing (no dependencies, so they are roots): c" in message
    assert "not roots (they have dependencies): b" in message


def test_too_many_jobs(api: Api, configure: Any) -> None:
    configure("MAX_JOBS", "2")
    # Jobs that break other rules too: a plan over the limit is refused before any job is checked
    answer = api.submit(plan({"id": "a"}, {"id": "a", "dependsOn": ["ghost"]}, {"id": "#"}))
    assert answer.status == 422
    assert answer.body["errors"] == [
        {"pointer": "/executionPlan/jobs", "code": "too_many_jobs", "message": "a plan has at most 2 jobs, this one 3"}
    ]


def test_max_jobs_plan_is_accepted(api: Api, configure: Any) -> None:
    configure("MAX_JOBS", "3")
    assert api.submit(plan({"id": "a"}, {"id": "b"}, {"id": "c"})).status == 202


def test_a_deployment_accepts_the_built_in_operations_and_its_custom_workers_and_refuses_the_rest(
    api: Api, configure: Any
) -> None:
    # Given a deployed stack (no simulated executor) whose custom workers run generateVideo and upscale
    configure("SIMULATED_EXECUTOR", "false")
    configure("ALLOWED_OPERATIONS", "generateVideo, upscale")
    # Then the built-in operations and the custom ones are accepted
    for operation in ("merge", "layer", "addSubtitles", "reframe", "generate", "transcribe", "upscale"):
        assert api.submit(plan({"id": "a", "operation": operation})).status == 202, operation
    # And an operation no worker runs is refused, naming it and every operation that exists
    answer = api.submit({"executionPlan": {"jobs": [{"id": "a", "type": "explode"}]}})
    assert answer.status == 422
    violation = answer.violation("operation_not_allowed")
    assert violation["pointer"] == "/executionPlan/jobs/0/type"
    assert "'explode'" in violation["message"]
    assert (
        "addSubtitles, generate, generateAudio, generateImage, generateVideo, layer, lipSync, merge"
        in (violation["message"])
    )
    assert "upscale" in violation["message"]


def test_with_no_custom_workers_only_the_built_in_operations_are_accepted(api: Api, configure: Any) -> None:
    configure("SIMULATED_EXECUTOR", "false")
    configure("ALLOWED_OPERATIONS", "")
    assert api.submit(plan({"id": "a", "operation": "lipSync"})).status == 202
    answer = api.submit(plan({"id": "a", "operation": "generateVideo"}))
    assert answer.status == 422
    assert "'generateVideo'" in answer.violation("operation_not_allowed")["message"]


def test_where_the_simulated_executor_runs_any_operation_name_is_accepted(api: Api, configure: Any) -> None:
    configure("SIMULATED_EXECUTOR", "true")
    configure("ALLOWED_OPERATIONS", "")
    assert api.submit(plan({"id": "a", "operation": "anything.made-up"})).status == 202


def test_params_size_limit(api: Api, configure: Any) -> None:
    configure("MAX_JOB_PARAMS_BYTES", "20")
    fits = {"p": "x" * 12}  # {"p":"xxxxxxxxxxxx"} is 20 bytes
    assert len(json.dumps(fits, separators=(",", ":"))) == 20
    assert api.submit(plan({"id": "a", "params": fits})).status == 202
    answer = api.submit(plan({"id": "a", "params": {"p": "x" * 13}}))
    assert answer.violation("params_too_large")["pointer"] == "/executionPlan/jobs/0/params"


def test_insecure_webhooks_can_be_allowed_for_local_experiments(api: Api, configure: Any) -> None:
    configure("ALLOW_INSECURE_WEBHOOKS", "true")
    assert api.submit(with_options(webhookUrl="http://localhost:8080/hook")).status == 202
    # private and link-local ranges stay refused
    for url in ("http://10.0.0.1/", "http://169.254.169.254/"):
        assert api.submit(with_options(webhookUrl=url)).codes == ["webhook_host_not_allowed"]


# The body envelope: 400, 413, 415 come before any plan rule.


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"executionPlan": ', "malformed_json"),
        ("{'single': 'quotes'}", "malformed_json"),
        ("", "malformed_json"),
        ("[]", "body_not_object"),
        ('"a string"', "body_not_object"),
        ("42", "body_not_object"),
        ("null", "body_not_object"),
        ("[" * 100_000 + "]" * 100_000, "malformed_json"),
        ('{"executionPlan": {"jobs": [{"id": "a", "operation": "x", "params": {"p": NaN}}]}}', "malformed_json"),
        ('{"executionPlan": {"jobs": [{"id": "a", "operation": "x", "params": {"p": -Infinity}}]}}', "malformed_json"),
        (
            '{"executionPlan": {"jobs": [{"id": "a", "operation": "x", "params": {"n": ' + "1" * 5000 + "}}]}}",
            "malformed_json",
        ),
        ('{"executionPlan": {"jobs": [{"id": "a", "operation": "x", "params": {"p": "\\ud800"}}]}}', "malformed_json"),
        (
            '{"executionPlan": {"jobs": []}, "options": {"webhookUrl": "https://example.com/h", "webhookSecret": "\\udfff"}}',
            "malformed_json",
        ),
    ],
    ids=[
        "truncated",
        "single quotes",
        "empty",
        "array",
        "string",
        "number",
        "null",
        "nested too deep",
        "NaN",
        "Infinity",
        "5000-digit integer",
        "lone surrogate in params",
        "lone surrogate in secret",
    ],
)
def test_broken_json_or_a_non_object_is_400(api: Api, raw: str, code: str) -> None:
    answer = api.submit(None, raw=raw)
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == code
    assert answer.body["error"] == answer.body["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "application/jsonx"},
    ],
    ids=["missing", "text", "form", "lookalike"],
)
def test_a_body_that_is_not_declared_json_is_415(api: Api, headers: dict[str, str]) -> None:
    answer = api.submit(plan(VALID_JOB), headers=headers)
    assert answer.status == 415
    assert answer.body["code"] == "unsupported_media_type"


def test_415_wins_over_schema_problems(api: Api) -> None:
    assert api.submit({"nonsense": True}, headers={"Content-Type": "text/plain"}).status == 415


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"]
)
def test_json_content_type_variants_are_fine(api: Api, content_type: str) -> None:
    assert api.submit(plan(VALID_JOB), headers={"content-type": content_type}).status == 202


def test_a_body_over_max_body_bytes_is_413(api: Api, configure: Any) -> None:
    configure("MAX_BODY_BYTES", "200")
    small = plan(VALID_JOB)
    assert api.submit(small).status == 202
    big = plan({"id": "a", "params": {"p": "x" * 300}})
    answer = api.submit(big)
    assert answer.status == 413
    assert answer.body["code"] == "payload_too_large"
    # even when the oversized body is also invalid
    assert api.submit({"junk": "x" * 300}).status == 413


def test_cross_field_problems_are_reported_even_when_a_field_of_the_same_object_fails(api: Api) -> None:
    # Given options with an unknown field AND a secret without a URL, and a job with a bad id AND two operations
    body = {
        "executionPlan": {"jobs": [{"id": "bad id", "operation": "merge", "type": "merge"}]},
        "options": {"retries": 3, "webhookSecret": "s"},
    }
    # When it is submitted / Then all four problems are listed, each once
    answer = api.submit(body)
    found = sorted((e["pointer"], e["code"]) for e in answer.body["errors"])
    assert found == [
        ("/executionPlan/jobs/0", "conflicting_fields"),
        ("/executionPlan/jobs/0/id", "invalid_job_id"),
        ("/options", "webhook_secret_without_url"),
        ("/options/retries", "unknown_field"),
    ]
