"""Per-tenant limits (docs/security.md, "API keys and tenants"): a usage plan per tier keyed by the
authorizer. `make api-key` gives a tenant its API Gateway key and links it to its tier's plan when deployed;
the authorizer returns that key as usageIdentifierKey. Against moto's API Gateway and DynamoDB; the
template's side is checked too."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from execution_api.storage.api_keys import ApiKeyStore, KeyGrant
from local.stack import FakeLambdaContext, apply_environment, forget_cached_configuration, provision
from local.template import Template
from tools import api_keys

STACK = "execution-api-dev"  # samconfig.toml's default stack
REGION = "us-east-1"
TEMPLATE = Template()


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A 'deployed' stack in moto: the key table and the two tiers' usage plans, found by stack outputs."""
    saved = dict(os.environ)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("API_KEYS_TABLE_NAME", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        stack = provision()
        apply_environment(stack)
        apigateway = boto3.client("apigateway")
        api = apigateway.create_rest_api(name=STACK)["id"]
        outputs = {
            "ApiKeysTableName": stack.names["ApiKeysTable"],
            "RestApiId": api,
            "StandardUsagePlanId": apigateway.create_usage_plan(
                name=f"{STACK}-standard", throttle={"rateLimit": 10, "burstLimit": 20}
            )["id"],
            "PremiumUsagePlanId": apigateway.create_usage_plan(
                name=f"{STACK}-premium", throttle={"rateLimit": 50, "burstLimit": 100}
            )["id"],
        }
        monkeypatch.setattr(api_keys, "stack_outputs", lambda target: outputs)
        yield outputs
    os.environ.clear()
    os.environ.update(saved)
    forget_cached_configuration()


def make_key(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, list[str]]:
    assert api_keys.main(["create", *args]) == 0
    output = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"exk_[A-Za-z0-9_-]{43}", output[-1]), "the key, alone, on the last line"
    return output[-1], output


def plan_members(outputs: dict[str, str], tier: str) -> set[str]:
    plan = outputs[f"{tier.capitalize()}UsagePlanId"]
    return {k["name"] for k in boto3.client("apigateway").get_usage_plan_keys(usagePlanId=plan)["items"]}


def tenant_keys() -> list[dict[str, Any]]:
    return list(boto3.client("apigateway").get_api_keys(includeValues=True)["items"])


def stored(outputs: dict[str, str], key: str) -> KeyGrant | None:
    return ApiKeyStore(boto3.client("dynamodb"), outputs["ApiKeysTableName"]).grant_for(key)


def test_a_new_tenant_gets_an_api_gateway_key_on_the_standard_plan(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    key, output = make_key(capsys, "--tenant", "acme")
    [gateway_key] = tenant_keys()
    assert gateway_key["name"] == f"{STACK}-tenant-acme"
    assert gateway_key["enabled"] is True
    assert plan_members(deployed, "standard") == {f"{STACK}-tenant-acme"}
    assert plan_members(deployed, "premium") == set()
    assert stored(deployed, key) == KeyGrant("acme", gateway_key["value"])
    assert any("standard tier" in line for line in output)
    assert gateway_key["value"] not in "\n".join(output)  # printed: only the bearer key


def test_a_tenants_keys_share_one_api_gateway_key_so_limits_are_per_tenant(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = make_key(capsys, "--tenant", "acme")
    second, _ = make_key(capsys, "--tenant", "acme")
    other, _ = make_key(capsys, "--tenant", "globex")
    grants = [stored(deployed, key) for key in (first, second, other)]
    assert grants[0] == grants[1]
    assert grants[0] is not None
    assert grants[2] is not None
    assert grants[0].usage_key != grants[2].usage_key
    assert len(tenant_keys()) == 2


def test_a_tenant_moves_to_another_tier(deployed: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    make_key(capsys, "--tenant", "acme")
    make_key(capsys, "--tenant", "acme", "--tier", "premium")
    assert plan_members(deployed, "premium") == {f"{STACK}-tenant-acme"}
    assert plan_members(deployed, "standard") == set()  # one plan per stage and key: left the old one
    make_key(capsys, "--tenant", "acme", "--tier", "premium")  # linking again is fine
    assert plan_members(deployed, "premium") == {f"{STACK}-tenant-acme"}


def test_the_authorizer_returns_the_tenants_usage_identifier_key(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    key, _ = make_key(capsys, "--tenant", "acme")
    [gateway_key] = tenant_keys()
    stack_function = provision().function("AuthorizerFunction")
    handler = stack_function.load_handler(TEMPLATE.layer_dirs())
    event = {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {key}",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev/POST/api/execute",
    }
    policy = handler(event, FakeLambdaContext(stack_function, "authorize"))
    assert policy["usageIdentifierKey"] == gateway_key["value"]
    assert policy["context"] == {"tenantId": "acme"}


def test_a_key_without_usage_plan_key_authorizes_without_one(deployed: dict[str, str]) -> None:
    """Keys made locally (make run) carry none; deployed, API Gateway then answers 403 (INVALID_API_KEY)."""
    ApiKeyStore(boto3.client("dynamodb"), deployed["ApiKeysTableName"]).create("local", "exk_" + "a" * 43)
    assert stored(deployed, "exk_" + "a" * 43) == KeyGrant("local", None)


def test_against_make_runs_backend_the_usage_plan_step_is_skipped_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    created: list[tuple[str, str, str | None]] = []

    class Store:
        def __init__(self, client: Any, table: str) -> None:
            assert client.meta.endpoint_url == "http://127.0.0.1:5005"
            assert table == "ApiKeysTable"

        def create(self, tenant: str, key: str, usage_key: str | None = None) -> None:
            created.append((tenant, key, usage_key))

    def no_api_gateway(*_: Any) -> str:
        raise AssertionError("no API Gateway behind a local endpoint")

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(api_keys, "ApiKeyStore", Store)
    monkeypatch.setattr(api_keys, "link_tenant_usage_key", no_api_gateway)
    assert api_keys.main(["--local", "create", "--tenant", "acme"]) == 0
    output = capsys.readouterr().out.splitlines()
    assert (
        output[0] == "Target: make run's local backend at http://127.0.0.1:5005 (table ApiKeysTable; no usage plans)."
    )
    assert created == [("acme", output[-1], None)]
    assert any(line.startswith("Usage plan: skipped (make run's backend") for line in output)


@pytest.mark.parametrize(
    "target",
    [[], ["--endpoint", "http://127.0.0.1:4566"], ["--local"]],
    ids=["deployed-stack", "another-endpoint", "local-default-port"],
)
def test_an_aws_endpoint_url_the_target_does_not_name_is_refused_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], target: list[str]
) -> None:
    def no_write(*_: Any) -> None:
        raise AssertionError("nothing may be written")

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    monkeypatch.setattr(api_keys, "ApiKeyStore", no_write)
    assert api_keys.main([*target, "create", "--tenant", "acme"]) == 2
    error = capsys.readouterr().err
    assert "AWS_ENDPOINT_URL is set (http://127.0.0.1:5999)" in error
    assert "ENDPOINT=http://127.0.0.1:5999" in error


def test_the_deployed_target_is_printed_before_the_key(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, output = make_key(capsys, "--tenant", "acme")
    assert output[0] == f"Target: stack {STACK} in region {REGION} at AWS."


def test_the_template_meters_each_tenant_by_the_authorizers_key() -> None:
    resources = TEMPLATE.resources
    api = resources["ExecutionApi"]["Properties"]
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    assert api["Auth"]["ApiKeyRequired"] is True  # usage plans only apply to methods that require a key
    assert api["Auth"]["AddApiKeyRequiredToCorsPreflight"] is False
    parameters = TEMPLATE.document["Parameters"]
    outputs = TEMPLATE.document["Outputs"]
    for tier in ("Standard", "Premium"):
        plan = resources[f"{tier}UsagePlan"]["Properties"]
        assert plan["ApiStages"] == [{"ApiId": {"Ref": "ExecutionApi"}, "Stage": {"Ref": "ExecutionApi.Stage"}}]
        assert plan["Throttle"] == {
            "RateLimit": {"Ref": f"{tier}TierRateLimit"},
            "BurstLimit": {"Ref": f"{tier}TierBurstLimit"},
        }
        assert plan["Quota"] == {"Limit": {"Ref": f"{tier}TierQuotaPerDay"}, "Period": "DAY"}
        for limit in ("RateLimit", "BurstLimit", "QuotaPerDay"):
            assert parameters[f"{tier}Tier{limit}"]["Type"] == "Number"
        assert outputs[f"{tier}UsagePlanId"]["Value"] == {"Ref": f"{tier}UsagePlan"}
    # Over a plan's limits API Gateway answers 429 problem+json (gateway responses THROTTLED, QUOTA_EXCEEDED).
    for response in ("THROTTLED", "QUOTA_EXCEEDED"):
        answer = TEMPLATE.gateway_response(response)
        assert answer["StatusCode"] == "429"
        assert json.loads(re.sub(r"\$context\.\w+", "x", answer["ResponseTemplates"]["application/json"]))
