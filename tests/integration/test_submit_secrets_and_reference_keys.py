"""Issue 23 at intake, through the submit handler: credentials in their common forms never stored in plain
text, reference keys that would collapse into one refused, whsec_ secrets no library can use refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from local.stack import LocalDeployment
from tests.support import Api, plan, stored_items

CREDENTIAL_FORMS = [
    "access_token", "accessToken", "refresh_token", "sessionToken", "client_secret", "x-api-key", "secretKey",
    "aws_secret_access_key", "privateKey", "bearer", "auth", "passwd", "credentials", "api key", "api.key",
    "  apiKey  ", "X-API-KEY", "Client.Secret", "hf_tokens", "githubTokens", "idTokens",
]  # fmt: skip
VALUE_FORMS = [
    "https://user:pa55word-x9@media.example.com/in.mp4",
    "https://media.example.com/in.mp4?api_key=pa55word-x9&w=1",
    "https://media.example.com/in.mp4#access_token=pa55word-x9",
    "Bearer pa55word-x9",
    "basic pa55word-x9==",
    "user:pa55word-x9@media.example.com",
    "note: x-api-key: pa55word-x9",
]


@pytest.mark.parametrize("key", CREDENTIAL_FORMS)
def test_a_credential_in_any_common_form_is_never_stored_in_plain_text(
    api: Api, aws: LocalDeployment, key: str
) -> None:
    params = {"request": {"headers": [{key: "pa55word-x9"}]}, "prompt": "a cat"}
    assert api.submit(plan({"id": "a", "params": params})).status == 202
    assert "pa55word-x9" not in json.dumps(stored_items(aws), default=str)


@pytest.mark.parametrize("value", VALUE_FORMS)
def test_a_credential_inside_a_value_is_never_stored_in_plain_text(api: Api, aws: LocalDeployment, value: str) -> None:
    params = {"inputs": [{"url": value}], "prompt": "a cat"}
    assert api.submit(plan({"id": "a", "params": params})).status == 202
    stored = json.dumps(stored_items(aws), default=str)
    assert "pa55word-x9" not in stored
    assert "a cat" in stored  # the rest of the params stay as they were


@pytest.mark.parametrize("words", ["16:9@30fps portrait", "time 10:30@studio"])
def test_a_long_prompt_that_only_looks_like_user_and_password_is_stored_as_written(
    api: Api, aws: LocalDeployment, words: str
) -> None:
    # A prompt over KMS's 4096 bytes would be refused ("credentials_too_large") if it were sealed
    prompt = f"{words}, " + "a cat on a windowsill at dusk, " * 150
    params = {"prompt": prompt, "max_new_tokens": 300, "outputTokens": 20}
    response = api.submit(plan({"id": "a", "params": params}))
    assert response.status == 202, response.body
    stored_params = [json.loads(item["params"]["S"]) for item in stored_items(aws) if "params" in item]
    assert stored_params == [params]  # nothing sealed


def test_two_keys_that_resolve_to_the_same_dependency_url_are_refused_with_both_pointers(api: Api) -> None:
    params = {"tracks": {"_videoJobDependency:a": {"volume": 1}, "_audioJobDependency:a": {"volume": 0}}}
    answer = api.submit(plan({"id": "a"}, {"id": "b", "params": params, "dependsOn": ["a"]}))
    assert answer.status == 422
    violations = [e for e in answer.body["errors"] if e["code"] == "duplicate_reference_key"]
    assert sorted(e["pointer"] for e in violations) == [
        "/executionPlan/jobs/1/params/tracks/_audioJobDependency:a",
        "/executionPlan/jobs/1/params/tracks/_videoJobDependency:a",
    ]
    assert "both become the output url of 'a'" in violations[0]["message"]


def test_reference_keys_to_different_jobs_or_in_different_objects_are_fine(api: Api) -> None:
    params = {
        "tracks": {"_videoJobDependency:a": 1, "_videoJobDependency:b": 2},
        "again": [{"_videoJobDependency:a": 1}, {"_videoJobDependency:a": 2}],
    }
    jobs = ({"id": "a"}, {"id": "b"}, {"id": "c", "params": params, "dependsOn": ["a", "b"]})
    assert api.submit(plan(*jobs)).status == 202


UNUSABLE_WHSEC = [
    ("whsec_", "has nothing after the prefix"),
    ("whsec_MfKQ9r8GKYqrTwjUPD8I LPZIo2LaLaSw", "holds spaces"),
    ("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 12).decode(), "URL-safe base64 alphabet"),
    ("whsec_not*base64", "is not base64"),
    ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "is not base64"),  # unpadded: the libraries refuse it
]


@pytest.mark.parametrize(("secret", "why"), UNUSABLE_WHSEC)
@pytest.mark.parametrize(
    ("options", "pointer"),
    [
        (lambda s: {"webhookUrl": "https://example.com/h", "webhookSecret": s}, "/options/webhookSecret"),
        (lambda s: {"webhook": {"url": "https://example.com/h", "secret": s}}, "/options/webhook/secret"),
        (lambda s: {"webhook": "https://example.com/h", "webhookSecret": s}, "/options/webhookSecret"),
    ],
)
def test_a_whsec_secret_no_standard_webhooks_library_can_use_is_refused(
    api: Api, secret: str, why: str, options: Any, pointer: str
) -> None:
    answer = api.submit({**plan(), "options": options(secret)})
    assert answer.status == 422, answer.body
    violation = answer.violation("invalid_webhook_secret")
    assert violation["pointer"] == pointer
    assert why in violation["message"]
    assert secret == "whsec_" or secret not in json.dumps(answer.body)  # the secret is never echoed


@pytest.mark.parametrize(
    "secret", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_" + base64.b64encode(b"\xfb\xff" * 12).decode(), "shh"]
)
def test_usable_secrets_are_accepted(api: Api, secret: str) -> None:
    answer = api.submit({**plan(), "options": {"webhookUrl": "https://example.com/h", "webhookSecret": secret}})
    assert answer.status == 202, answer.body
