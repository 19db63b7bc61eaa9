"""What the published TypeScript SDK sends and shows, through the real handlers against moto:
its webhook forms, its credentials, the words of its status type, base-execution dependencies,
the text of a 422 (the SDK shows only `error`), and CORS for browsers."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from execution_api.core.credentials import SEALED, open_credentials, open_job_params
from execution_api.core.sealing import CredentialCipher
from local.events import rest_api_event
from local.stack import LocalDeployment
from tests.support import JSON, SUBMIT, Api, plan, stored_items

HOOK = "https://example.com/hooks/executions"


# ---- webhook forms


def test_the_flat_webhook_form_with_a_secret_beside_it_is_accepted(api: Api, aws: LocalDeployment) -> None:
    # Given the SDK's executeFromPlan body: options.webhook is the URL, webhookSecret beside it
    body = {**plan({"id": "a"}), "options": {"webhook": HOOK, "webhookSecret": "shh"}}
    # When it is submitted
    answer = api.submit(body)
    # Then it is accepted, the URL is stored and the secret only as ciphertext
    assert answer.status == 202, answer.body
    execution = next(i for i in stored_items(aws) if i["sk"]["S"] == "EXECUTION")
    assert execution["webhookUrl"]["S"] == HOOK
    assert "webhookSecretCiphertext" in execution
    assert "shh" not in json.dumps(stored_items(aws), default=str)
    assert api.status(answer.body["id"]).body["webhook"]["url"] == HOOK


def test_the_flat_webhook_form_alone_is_accepted(api: Api) -> None:
    assert api.submit({**plan({"id": "a"}), "options": {"webhook": HOOK}}).status == 202


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"webhook": {"url": HOOK}, "webhookUrl": HOOK}, "'webhookUrl'"),
        ({"webhook": {"url": HOOK}, "webhookSecret": "s"}, "'webhookSecret'"),
        ({"webhook": HOOK, "webhookUrl": HOOK}, "'webhookUrl'"),
    ],
)
def test_mixing_webhook_forms_is_a_422_that_names_the_clash(api: Api, options: dict[str, Any], named: str) -> None:
    answer = api.submit({**plan({"id": "a"}), "options": options})
    assert answer.status == 422
    clash = answer.violation("conflicting_fields")
    assert clash["pointer"] == "/options"
    assert named in clash["message"]
    assert "'webhook'" in clash["message"]


def test_a_flat_webhook_url_is_checked_like_any_other(api: Api) -> None:
    answer = api.submit({**plan({"id": "a"}), "options": {"webhook": "https://169.254.169.254/latest"}})
    assert answer.status == 422
    assert answer.violation("webhook_host_not_allowed")["pointer"] == "/options/webhook"


def test_a_webhook_that_is_neither_a_url_nor_an_object_is_a_422(api: Api) -> None:
    answer = api.submit({**plan({"id": "a"}), "options": {"webhook": 42}})
    assert answer.status == 422
    assert answer.violation("invalid_type")["pointer"] == "/options/webhook"


# ---- null where a field is optional


@pytest.mark.parametrize("field", ["dependsOn", "dependencies"])
def test_a_null_dependency_list_means_none_and_is_accepted(api: Api, field: str) -> None:
    # Given a root job whose optional dependency list is given as null (a client serialising an unset field);
    # this body passed the schema and then failed an assert: 500
    body = plan({"id": "a", field: None})
    body["executionPlan"]["rootJobIds"] = ["a"]
    # When it is submitted
    answer = api.submit(body)
    # Then it is accepted as a job with no dependencies
    assert answer.status == 202, answer.body
    assert api.status(answer.body["id"]).body["jobs"][0]["dependsOn"] == []


# ---- what the SDK shows: `error` and `detail` in words


def test_a_single_violation_is_the_error_text(api: Api) -> None:
    answer = api.submit(plan({"id": "a", "dependsOn": ["ghost"]}))
    assert answer.status == 422
    message = "job 'a' depends on 'ghost', which is not in the plan"
    assert answer.body["error"] == answer.body["detail"] == message
    assert answer.body["code"] == "validation_failed"


def test_more_violations_say_how_many_more(api: Api) -> None:
    answer = api.submit(plan({"id": "a", "dependsOn": ["x"]}, {"id": "b", "dependsOn": ["y"]}, {"id": "c!"}))
    assert answer.status == 422
    first = answer.body["errors"][0]["message"]
    assert answer.body["error"] == f"{first} (and {len(answer.body['errors']) - 1} more)"
    assert len(answer.body["errors"]) == 3


def test_a_field_in_the_wrong_object_is_told_where_it_belongs(api: Api) -> None:
    # Given webhookUrl placed inside executionPlan (seen from SDK users)
    body = {"executionPlan": {"jobs": [], "webhookUrl": HOOK}}
    answer = api.submit(body)
    unknown = answer.violation("unknown_field")
    # Then the hint says where it goes, and never suggests the very name that was sent
    assert unknown["pointer"] == "/executionPlan/webhookUrl"
    assert "belongs in options" in unknown["message"]
    assert "did you mean 'webhookUrl'" not in unknown["message"]


def test_a_typo_gets_did_you_mean_with_another_name(api: Api) -> None:
    answer = api.submit(plan({"id": "a", "dependOn": []}))
    assert "did you mean 'dependsOn'?" in answer.violation("unknown_field")["message"]


# ---- credentials


SDK_KEYS = {"replicate": "r8_live_provider_key_1234567890", "fal": "fal-secret-key-abcdef"}


def test_provider_api_keys_are_accepted_sealed_and_never_stored_in_clear(api: Api, aws: LocalDeployment) -> None:
    # Given the SDK's automatic providerApiKeys and a key passed as videoModel(..., {apiKey})
    job = {"id": "a", "params": {"provider": "replicate", "apiKey": "r8_param_key_42", "n": 1}}
    body = {**plan(job), "options": {"providerApiKeys": SDK_KEYS}}
    # When it is submitted
    answer = api.submit(body)
    # Then it is accepted, and no key is anywhere in the table in clear
    assert answer.status == 202, answer.body
    dump = json.dumps(stored_items(aws), default=str)
    for secret in (*SDK_KEYS.values(), "r8_param_key_42"):
        assert secret not in dump
    job_item = next(i for i in stored_items(aws) if i["sk"]["S"] == "JOB#a")
    assert json.loads(job_item["params"]["S"]) == {"provider": "replicate", "apiKey": SEALED, "n": 1}
    # And the status never shows them either
    assert "r8_" not in json.dumps(api.status(answer.body["id"]).body)


@pytest.mark.parametrize(
    "key", ["apiKey", "api_key", "APIKEY", "apiToken", "token", "Secret", "password", "Authorization"]
)
def test_every_credential_like_key_at_any_depth_is_sealed(api: Api, aws: LocalDeployment, key: str) -> None:
    params = {"model": {"options": [{"headers": {key: "credential-value-xyz"}}]}}
    assert api.submit(plan({"id": "a", "params": params})).status == 202
    assert "credential-value-xyz" not in json.dumps(stored_items(aws), default=str)


def test_sealed_credentials_open_only_for_their_own_execution(api: Api, aws: LocalDeployment) -> None:
    # Given two executions, one with credentials
    job = {"id": "a", "params": {"apiKey": "k-1", "nested": {"token": 7}}}
    first = api.submit({**plan(job), "options": {"providerApiKeys": {"fal": "f-1"}}}).body["id"]
    second = api.submit(plan({"id": "b"})).body["id"]
    items = stored_items(aws)
    execution = next(i for i in items if i["sk"]["S"] == "EXECUTION" and i["executionId"]["S"] == first)
    job_item = next(i for i in items if i["sk"]["S"] == "JOB#a")
    cipher = CredentialCipher(boto3.client("kms", region_name="us-east-1"), aws.names["CredentialKey"])
    # When the worker's function opens them for their execution
    opened = open_credentials(cipher, first, execution["sealedCredentials"]["B"])
    params = open_job_params(json.loads(job_item["params"]["S"]), json.loads(job_item["sealedParams"]["S"]), opened)
    # Then the job gets its params as sent, and the provider keys come back
    assert params == {"apiKey": "k-1", "nested": {"token": 7}}
    assert opened.provider_api_keys == {"fal": "f-1"}
    # And under another execution's context they do not open
    with pytest.raises(ClientError, match="InvalidCiphertext"):
        open_credentials(cipher, second, execution["sealedCredentials"]["B"])


def test_credentials_are_never_logged_even_at_debug(
    api: Api, aws: LocalDeployment, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], configure: Any
) -> None:
    configure("POWERTOOLS_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    job = {"id": "a", "params": {"apiKey": "log-probe-param-key"}}
    answer = api.submit({**plan(job), "options": {"providerApiKeys": {"fal": "log-probe-provider-key"}}})
    assert answer.status == 202
    captured = caplog.text + "".join(capsys.readouterr())
    assert "execution accepted" in captured  # the capture did see the service's own lines
    assert "log-probe-param-key" not in captured
    assert "log-probe-provider-key" not in captured


def test_the_idempotency_comparison_covers_credentials(api: Api) -> None:
    def submit(key: str) -> Any:
        body = {**plan({"id": "a"}), "options": {"providerApiKeys": {"fal": key}}}
        return api.submit(body, headers={**JSON, "Idempotency-Key": "creds-1"})

    assert submit("first-key").status == 202
    assert submit("first-key").headers.get("Idempotent-Replayed") == "true"
    assert submit("other-key").body["code"] == "idempotency_key_reused"


def test_malformed_provider_keys_are_a_422(api: Api) -> None:
    answer = api.submit({**plan({"id": "a"}), "options": {"providerApiKeys": {"bad name": "k", "fal": ""}}})
    assert answer.status == 422
    assert {v["pointer"] for v in answer.body["errors"]} == {
        "/options/providerApiKeys/bad name",
        "/options/providerApiKeys/fal",
    }


# ---- base-execution dependencies


def complete_jobs(aws: LocalDeployment, execution_id: str, *job_ids: str) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    for job_id in job_ids:
        client.update_item(
            TableName=aws.names["ExecutionsTable"],
            Key={"pk": {"S": f"TENANT#local#EXECUTION#{execution_id}"}, "sk": {"S": f"JOB#{job_id}"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "completed"}},
        )


def test_a_job_may_depend_on_a_completed_job_of_the_base(api: Api, aws: LocalDeployment) -> None:
    # Given a base execution whose job 'video' completed
    base = api.submit(plan({"id": "video"}, {"id": "other"})).body["id"]
    complete_jobs(aws, base, "video")
    # When a new plan's job depends on it (and wires its output in)
    job = {"id": "subs", "dependsOn": ["video"], "params": {"video": "_videoJobDependency:video"}}
    answer = api.submit({**plan(job), "options": {"baseExecutionId": base}})
    # Then it is accepted, is a root here, and the job item says which dependency comes from the base
    assert answer.status == 202, answer.body
    items = [i for i in stored_items(aws) if i["pk"]["S"].endswith(answer.body["id"])]
    execution = next(i for i in items if i["sk"]["S"] == "EXECUTION")
    assert [v["S"] for v in execution["rootJobIds"]["L"]] == ["subs"]
    job_item = next(i for i in items if i["sk"]["S"] == "JOB#subs")
    assert [v["S"] for v in job_item["baseDependsOn"]["L"]] == ["video"]
    assert api.status(answer.body["id"]).body["jobs"][0]["dependsOn"] == ["video"]


def test_a_base_job_that_is_not_completed_is_a_422(api: Api) -> None:
    base = api.submit(plan({"id": "video"})).body["id"]
    answer = api.submit({**plan({"id": "subs", "dependsOn": ["video"]}), "options": {"baseExecutionId": base}})
    assert answer.status == 422
    violation = answer.violation("base_job_not_complete")
    assert violation["pointer"] == "/executionPlan/jobs/0/dependsOn/0"
    assert "pending" in violation["message"]


def test_a_dependency_in_neither_plan_nor_base_is_unknown(api: Api) -> None:
    base = api.submit(plan({"id": "video"})).body["id"]
    body = {**plan({"id": "subs", "dependsOn": ["ghost"]}), "options": {"baseExecutionId": base}}
    answer = api.submit(body)
    assert answer.status == 422
    assert "'ghost'" in answer.violation("unknown_dependency")["message"]


# ---- status words


def test_status_words_are_the_sdks(api: Api) -> None:
    from execution_api.models.response import ExecutionStatus

    words = ExecutionStatus.model_json_schema()["$defs"]["JobStatus"]["properties"]["status"]["enum"]
    assert words == ["pending", "processing", "completed", "failed"]  # a cancel reads failed, with cancelled: true
    assert api.status(api.submit(plan({"id": "a"})).body["id"]).body["status"] == "pending"


# ---- CORS

ORIGIN = "https://app.example.com"


def preflight(api: Api, path: str, origin: str, function: str = SUBMIT) -> Any:
    event = rest_api_event(
        "OPTIONS",
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        tenant_id=None,  # API Gateway sends a preflight without the authorizer
    )
    return api.call(function, event)


def test_an_allowed_origins_preflight_is_answered_without_an_api_key(api: Api, configure: Any) -> None:
    configure("CORS_ALLOW_ORIGINS", f"{ORIGIN},https://other.example.com")
    answer = preflight(api, "/api/execute", ORIGIN)
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = answer.headers["Access-Control-Allow-Headers"].lower().split(",")
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed)
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]


def test_a_disallowed_origin_gets_no_cors_headers(api: Api, configure: Any) -> None:
    configure("CORS_ALLOW_ORIGINS", ORIGIN)
    answer = preflight(api, "/api/execute", "https://evil.example.com")
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)
    accepted = api.submit(plan(), headers={**JSON, "Origin": "https://evil.example.com"})
    assert not any(name.lower().startswith("access-control-") for name in accepted.headers)


def test_responses_to_an_allowed_origin_carry_allow_origin(api: Api, configure: Any) -> None:
    configure("CORS_ALLOW_ORIGINS", ORIGIN)
    accepted = api.submit(plan(), headers={**JSON, "Origin": ORIGIN})
    assert accepted.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Location" in accepted.headers["Access-Control-Expose-Headers"]
    rejected = api.submit(plan({"id": "a!"}), headers={**JSON, "Origin": ORIGIN})
    assert rejected.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_no_cors_by_default(api: Api) -> None:
    answer = preflight(api, "/api/execute", ORIGIN)
    assert answer.status == 405
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)


def test_the_template_lets_preflights_past_the_authorizer_and_nothing_else() -> None:
    from local.template import Template

    open_routes = [(f.logical_id, r.method) for f in Template().functions() for r in f.routes if r.open]
    assert open_routes
    # The provider callback route is the one other: providers sign instead (tests/providers/test_callback_route.py).
    assert all(method == "OPTIONS" or name == "ProviderCallbackFunction" for name, method in open_routes)
