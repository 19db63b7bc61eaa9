"""API keys, the authorizer and tenant isolation (docs/security.md), through the real handlers."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import boto3
import pytest

from execution_api.storage.api_keys import ApiKeyStore, hash_api_key
from local.stack import FakeLambdaContext, LocalDeployment
from tests.support import Api, plan, stored_items

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev/POST/api/execute"


@pytest.fixture
def keys(aws: LocalDeployment) -> ApiKeyStore:
    return ApiKeyStore(boto3.client("dynamodb", region_name="us-east-1"), aws.names["ApiKeysTable"])


def authorize(aws: LocalDeployment, token: str) -> dict[str, Any]:
    function = aws.function("AuthorizerFunction")
    event = {"type": "TOKEN", "authorizationToken": token, "methodArn": METHOD_ARN}
    result: dict[str, Any] = aws.handler(function)(event, FakeLambdaContext(function, "auth"))
    return result


def test_a_valid_key_is_allowed_for_every_route_with_its_tenant(aws: LocalDeployment, keys: ApiKeyStore) -> None:
    keys.create("acme", "exk_acme-key")
    policy = authorize(aws, "Bearer exk_acme-key")
    assert policy == {
        "principalId": "acme",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    # every route of the stage: API Gateway caches this answer per key
                    "Resource": ["arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev/*/*"],
                }
            ],
        },
        "context": {"tenantId": "acme"},
    }


@pytest.mark.parametrize(
    "token",
    ["", "exk_acme-key", "Basic exk_acme-key", "Bearer", "Bearer ", "Bearer exk_unknown", "bearer exk_acme-key"],
    ids=["empty", "no scheme", "basic", "scheme only", "blank key", "unknown key", "lowercase scheme"],
)
def test_missing_malformed_or_unknown_keys_are_unauthorized(
    aws: LocalDeployment, keys: ApiKeyStore, token: str
) -> None:
    keys.create("acme", "exk_acme-key")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(aws, token)


def test_a_revoked_key_stops_working(aws: LocalDeployment, keys: ApiKeyStore) -> None:
    keys.create("acme", "exk_acme-key")
    assert authorize(aws, "Bearer exk_acme-key")["principalId"] == "acme"
    assert keys.revoke("exk_acme-key") is True
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(aws, "Bearer exk_acme-key")
    assert keys.revoke("exk_never-made") is False


def test_only_the_hash_is_stored(aws: LocalDeployment, keys: ApiKeyStore) -> None:
    keys.create("acme", "exk_the-real-key-material")
    [item] = stored_items(aws, "ApiKeysTable")
    assert item["keyHash"]["S"] == hashlib.sha256(b"exk_the-real-key-material").hexdigest()
    assert "the-real-key-material" not in json.dumps(item)


def test_the_comparison_is_constant_time(
    aws: LocalDeployment, keys: ApiKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    keys.create("acme", "exk_acme-key")
    authorize(aws, "Bearer exk_acme-key")
    assert compared == [(hash_api_key("exk_acme-key"), hash_api_key("exk_acme-key"))]


def test_the_key_is_never_logged(aws: LocalDeployment, keys: ApiKeyStore, capsys: pytest.CaptureFixture[str]) -> None:
    keys.create("acme", "exk_acme-key")
    authorize(aws, "Bearer exk_acme-key")
    with pytest.raises(Exception, match="Unauthorized"):
        authorize(aws, "Bearer exk_wrong-key")
    out = capsys.readouterr()
    assert "exk_acme-key" not in out.out + out.err
    assert "exk_wrong-key" not in out.out + out.err


def test_an_invalid_tenant_id_is_refused(keys: ApiKeyStore) -> None:
    with pytest.raises(ValueError, match="tenant id"):
        keys.create("acme#EXECUTION#x", "exk_k")


# Tenant isolation in the route functions: the tenant comes from the authorizer's context.


def as_tenant(api: Api, tenant: str, body: Any, **headers: str) -> Any:
    from local.events import rest_api_event
    from tests.support import SUBMIT

    event = rest_api_event(
        "POST", "/api/execute", headers={"Content-Type": "application/json", **headers}, body=json.dumps(body)
    )
    event["requestContext"]["authorizer"] = {"tenantId": tenant, "principalId": tenant}
    return api.call(SUBMIT, event)


def test_tenants_cannot_see_each_others_executions(api: Api, aws: LocalDeployment) -> None:
    acme = as_tenant(api, "acme", plan({"id": "a"})).body["id"]
    assert api.status(acme, tenant="acme").status == 200
    assert api.status(acme, tenant="globex").status == 404
    items = stored_items(aws)
    assert {i["tenantId"]["S"] for i in items if i["sk"]["S"] == "EXECUTION"} == {"acme"}


def test_another_tenants_execution_is_no_base(api: Api) -> None:
    acme = as_tenant(api, "acme", plan({"id": "a"})).body["id"]
    body = {**plan({"id": "b"}), "options": {"baseExecutionId": acme}}
    assert as_tenant(api, "globex", body).body["errors"][0]["code"] == "base_execution_not_found"
    assert as_tenant(api, "acme", body).status == 202


@pytest.mark.parametrize(
    ("method_arn", "allowed"),
    [
        (METHOD_ARN, "arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev/*/*"),
        (
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123defg/prod/GET/api/execute/x1/status",
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123defg/prod/*/*",
        ),
        ("arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev", None),  # no method: not a request's ARN
        ("arn:aws:lambda:us-east-1:123456789012:function:x/dev/GET/a", None),
        ("", None),
    ],
    ids=["rest-api", "other-partition-deep-path", "stage-only", "not-execute-api", "none"],
)
def test_the_allow_names_the_requests_stage_and_a_method_arn_of_no_stage_is_refused(
    aws: LocalDeployment, keys: ApiKeyStore, method_arn: str, allowed: str | None
) -> None:
    keys.create("acme", "exk_acme-key")
    function = aws.function("AuthorizerFunction")
    event = {"type": "TOKEN", "authorizationToken": "Bearer exk_acme-key", "methodArn": method_arn}
    if allowed is None:
        with pytest.raises(PermissionError, match=r"^Unauthorized$"):
            aws.handler(function)(event, FakeLambdaContext(function, "auth"))
        return
    policy = aws.handler(function)(event, FakeLambdaContext(function, "auth"))
    assert policy["policyDocument"]["Statement"][0]["Resource"] == [allowed]
