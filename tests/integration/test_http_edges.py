"""Routes and methods, the 500 that leaks nothing, the webhook secret sealed for its own execution
(docs/api.md, docs/security.md; never logged: test_secrets_never_logged.py); bodies that are not UTF-8
or are multipart without a boundary."""

from __future__ import annotations

import json
from typing import Any

import pytest

from execution_api.core.sealing import CredentialCipher
from local.events import rest_api_event
from local.stack import LocalDeployment
from tests.support import STATUS, SUBMIT, Api, plan


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_on_execute_are_405_with_allow(api: Api, method: str) -> None:
    answer = api.submit(plan({"id": "a"}), method=method)
    assert answer.status == 405
    assert answer.headers["Allow"] == "POST"
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "method_not_allowed"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_on_status_are_405_with_allow(api: Api, method: str) -> None:
    answer = api.status("V1StGXR8_Z5jdHi6B-myT", method=method)
    assert answer.status == 405
    assert answer.headers["Allow"] == "GET"


def test_an_unknown_route_reaching_a_function_is_404_problem(api: Api) -> None:
    answer = api.call(SUBMIT, rest_api_event("GET", "/api/nothing-here", tenant_id="local"))
    assert answer.status == 404
    assert answer.body["code"] == "route_not_found"


def test_an_unexpected_error_is_a_500_with_the_request_id_only(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a bug deep inside the service
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("internal detail: pk TENANT#local")

    from execution_api.intake.submission import SubmissionService

    monkeypatch.setattr(SubmissionService, "submit", broken)
    # When a plan is submitted
    event = rest_api_event(
        "POST", "/api/execute", headers={"Content-Type": "application/json"}, body="{}", tenant_id="local"
    )
    event["body"] = json.dumps(plan({"id": "a"}))
    answer = api.call(SUBMIT, event)
    # Then the client gets a problem with the request id and nothing else
    assert answer.status == 500
    assert answer.body == {
        "type": "https://errors.execution-api.dev/internal-error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "an internal error occurred; quote the instance id when reporting it",
        "code": "internal_error",
        "error": "an internal error occurred; quote the instance id when reporting it",
        "instance": event["requestContext"]["requestId"],
    }


def test_the_stored_secret_decrypts_only_for_its_own_execution(api: Api, aws: LocalDeployment) -> None:
    import boto3
    from botocore.exceptions import ClientError

    a = api.submit({**plan({"id": "a"}), "options": {"webhook": {"url": "https://example.com/h", "secret": "shh"}}})
    b = api.submit(plan({"id": "b"}))
    client = boto3.client("dynamodb", region_name="us-east-1")
    item = client.get_item(
        TableName=aws.names["ExecutionsTable"],
        Key={"pk": {"S": f"TENANT#local#EXECUTION#{a.body['id']}"}, "sk": {"S": "EXECUTION"}},
    )["Item"]
    ciphertext = item["webhookSecretCiphertext"]["B"]
    cipher = CredentialCipher(boto3.client("kms", region_name="us-east-1"), aws.attributes[("CredentialKey", "Arn")])
    # The webhook sender's path: the same execution id opens it
    assert cipher.unseal(a.body["id"], ciphertext).get_secret_value() == "shh"
    # A ciphertext copied onto another execution does not
    with pytest.raises(ClientError):
        cipher.unseal(b.body["id"], ciphertext)


@pytest.mark.moto_only(reason="ministack's KMS decrypts a tampered ciphertext and one sealed under another key")
def test_a_tampered_or_foreign_ciphertext_never_opens(api: Api, aws: LocalDeployment) -> None:
    import boto3
    from botocore.exceptions import ClientError

    kms = boto3.client("kms", region_name="us-east-1")
    key_arn = aws.attributes[("CredentialKey", "Arn")]
    cipher = CredentialCipher(kms, key_arn)
    sealed = kms.encrypt(KeyId=key_arn, Plaintext=b"shh", EncryptionContext={"executionId": "a"})["CiphertextBlob"]
    foreign_key = kms.create_key()["KeyMetadata"]["Arn"]
    foreign = kms.encrypt(KeyId=foreign_key, Plaintext=b"shh", EncryptionContext={"executionId": "a"})
    assert cipher.unseal("a", sealed).get_secret_value() == "shh"
    # A ciphertext changed by one bit, anywhere, does not open
    for position in (0, len(sealed) // 2, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[position] ^= 1
        with pytest.raises(ClientError):
            cipher.unseal("a", bytes(tampered))
    # Nor does one sealed under another key: unseal names the credential key
    with pytest.raises(ClientError):
        cipher.unseal("a", foreign["CiphertextBlob"])


def test_status_function_has_no_credential_key(aws: LocalDeployment) -> None:
    # The status function never seals nor opens a credential: the template gives it no key to do so
    assert "CREDENTIAL_KEY_ID" in aws.environment(aws.function(SUBMIT))
    assert "CREDENTIAL_KEY_ID" not in aws.environment(aws.function(STATUS))


# ---------------------------------------------------------------------------------------------------
# The body's bytes are not UTF-8 (found by make fuzz: schemathesis sent random bytes as application/json)

NOT_UTF8 = [
    pytest.param(b"C\x04V\xc8\xd5\x92\xffK|Y\xe5~\xba\x1e\x9b", id="fuzzed-bytes"),
    pytest.param(b"\xff", id="one-byte"),
    pytest.param(b'{"executionPlan": {"jobs": [{"id": "caf\xe9", "operation": "merge"}]}}', id="latin-1-json"),
]


@pytest.mark.parametrize("raw", NOT_UTF8)
def test_a_body_that_is_not_utf8_is_malformed_json_not_a_500(api: Api, raw: bytes) -> None:
    # Given bytes that are not UTF-8, declared as JSON (the event carries them base64-encoded)
    # When they are submitted
    answer = api.submit(None, raw=raw)
    # Then it is the client's mistake, told as such
    assert answer.status == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "malformed_json"


def test_a_body_that_is_not_utf8_with_an_idempotency_key_is_malformed_json(api: Api) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": "not-utf8"}
    answer = api.submit(None, raw=b"\xff\xfe", headers=headers)
    assert answer.status == 400, answer.body
    assert answer.body["code"] == "malformed_json"


# ---------------------------------------------------------------------------------------------------
# multipart/form-data without a boundary (schemathesis: "undeclared request Content-Type")


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=", "Multipart/Form-Data"]
)
def test_multipart_without_a_boundary_is_415_not_a_500(api: Api, content_type: str) -> None:
    # Given a JSON body declared as multipart/form-data with no usable boundary
    body = b'{"executionPlan": {"baseExecutionId": "0", "jobs": [], "rootJobIds": []}, "options": null}'
    # When it is submitted
    answer = api.submit(None, raw=body, headers={"Content-Type": content_type})
    # Then it gets the 415 every other non-JSON media type gets (checked before anything in the body)
    assert answer.status == 415, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "unsupported_media_type"
