"""The provider routes through their handlers, as API Gateway calls them: the callback route (no API key, the
provider's signature instead; anything unverified 401, changing nothing) and the tenant's provider keys
(sealed at rest, shown by their last 4 characters, tenant-scoped)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from execution_api.engine.executors import JobDeferred
from local.events import rest_api_event
from local.stack import forget_cached_configuration
from tests.providers.conftest import Harness
from tests.providers.test_predictions import KEY, SEEDANCE
from tests.support import Answer, Api

CALLBACK = "ProviderCallbackFunction"
KEYS = "ProviderKeysFunction"


@pytest.fixture
def api(providers: Harness, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv("FAL_JWKS_URL", providers.settings.fal_jwks_url)
    forget_cached_configuration()
    return Api(providers.stack)


def callback(api: Api, provider: str, ref: str, body: bytes, headers: dict[str, str], method: str = "POST") -> Answer:
    event = rest_api_event(
        method,
        f"/api/providers/{provider}/callbacks/{ref}",
        resource="/api/providers/{provider}/callbacks/{ref}",
        path_parameters={"provider": provider, "ref": ref},
        headers={"Content-Type": "application/json", **headers},
        body=body,
    )  # no tenant: the route has no authorizer
    return api.call(CALLBACK, event)


def queued() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    answer = sqs.receive_message(QueueUrl=os.environ["WORK_QUEUE_URL"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_a_signed_callback_is_200_and_queues_a_check_and_anything_else_is_401(api: Api, providers: Harness) -> None:
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job("generate", SEEDANCE, KEY), lambda: None)
    (ref,) = [i["pk"]["S"].removeprefix("PREDICTION#") for i in providers.items() if "PREDICTION#" in i["pk"]["S"]]
    prediction_id = next(iter(providers.replicate.predictions))
    providers.replicate.finish(prediction_id, output="https://example.com/x.mp4")
    body, headers = providers.replicate.signed_callback(prediction_id)
    forged = {**headers, "webhook-signature": "v1,bm90IHRoZSBzaWduYXR1cmUgb2YgdGhpcyBib2R5IGF0IGFsbA=="}
    refused = callback(api, "replicate", ref, body, forged)
    assert refused.status == 401
    assert refused.body["code"] == "unauthorized"
    assert "whsec" not in refused.raw.decode()
    assert callback(api, "replicate", "x" * 43, body, headers).status == 401  # an unknown ref
    assert queued() == []
    accepted = callback(api, "replicate", ref, body, headers)
    assert accepted.status == 200
    assert queued() == [{"prediction": ref}]
    assert callback(api, "replicate", ref, body, headers, method="GET").status == 405


def submitted(
    providers: Harness, operation: str = "generate", params: dict[str, Any] = SEEDANCE, keys: dict[str, str] = KEY
) -> str:
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job(operation, params, keys), lambda: None)
    (ref,) = [i["pk"]["S"].removeprefix("PREDICTION#") for i in providers.items() if "PREDICTION#" in i["pk"]["S"]]
    return ref


def prediction_item(providers: Harness, ref: str) -> dict[str, Any]:
    (item,) = [i for i in providers.items() if i["pk"]["S"] == f"PREDICTION#{ref}"]
    return item


@pytest.mark.parametrize("provider", ["replicate", "fal"])
def test_a_signed_callback_sent_again_is_a_replay_401_and_changes_nothing(
    api: Api, providers: Harness, provider: str
) -> None:
    # Given a prediction whose provider called back once, signed and fresh
    if provider == "replicate":
        ref = submitted(providers)
        prediction_id = next(iter(providers.replicate.predictions))
        providers.replicate.finish(prediction_id, output="https://example.com/x.mp4")
        body, headers = providers.replicate.signed_callback(prediction_id)
    else:
        params = {"provider": "fal", "modelId": "fal-ai/nano-banana", "prompt": "a cat"}
        ref = submitted(providers, "generateImage", params, {"fal": providers.fal.key})
        prediction_id = next(iter(providers.fal.requests))
        providers.fal.finish(prediction_id, {"images": [{"url": "https://example.com/x.png"}]})
        body, headers = providers.fal.signed_callback(prediction_id)
    assert callback(api, provider, ref, body, headers).status == 200
    assert queued() == [{"prediction": ref}]
    before = prediction_item(providers, ref)
    # When the same signed message comes again, well inside the 5 minutes its timestamp allows
    replayed = callback(api, provider, ref, body, headers)
    # Then it is refused as a replay, and nothing is queued, made due or changed (issue 22 point 2)
    assert replayed.status == 401
    assert replayed.body["code"] == "unauthorized"
    assert queued() == []
    assert prediction_item(providers, ref) == before


def test_the_callback_opens_only_the_replicate_signing_secret_sealed_apart(
    api: Api, providers: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import execution_api.core.sealing as sealing
    from execution_api.core.sealing import REPLICATE_WEBHOOK

    # Given a Replicate prediction: the task token and key sealed for the workers, the signing secret apart
    ref = submitted(providers)
    item = prediction_item(providers, ref)
    cipher = providers.checker.cipher
    workers = json.loads(cipher.unseal("exec-1", item["sealed"]["B"]).get_secret_value())
    assert set(workers) == {"taskToken", "apiKey"}
    signing = item["signingSecret"]["B"]
    assert cipher.unseal("exec-1", signing, purpose=REPLICATE_WEBHOOK).get_secret_value() == providers.replicate.secret
    with pytest.raises(ClientError, match="InvalidCiphertext"):  # not under the workers' context alone
        cipher.unseal("exec-1", signing)
    # When Replicate calls back, the route decrypts only under the signing secret's purpose (which is all
    # its IAM policy allows: tests/test_template_webhooks.py)
    contexts: list[dict[str, str]] = []
    original = sealing.call

    def watched(client: Any, operation: str, **kwargs: Any) -> Any:
        if operation == "decrypt":
            contexts.append(kwargs["EncryptionContext"])
        return original(client, operation, **kwargs)

    monkeypatch.setattr(sealing, "call", watched)
    prediction_id = next(iter(providers.replicate.predictions))
    providers.replicate.finish(prediction_id, output="https://example.com/x.mp4")
    body, headers = providers.replicate.signed_callback(prediction_id)
    assert callback(api, "replicate", ref, body, headers).status == 200
    assert contexts == [{"executionId": "exec-1", "purpose": REPLICATE_WEBHOOK}]


@pytest.mark.parametrize("ref", ["x" * 3000, "x" * 42, "x" * 44, "a" * 42 + ".", "a" * 42 + "+", "%00" * 15])
def test_a_ref_that_is_not_one_of_ours_is_401_before_the_table_is_asked(
    api: Api, ref: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execution_api.storage.predictions import PredictionStore

    # DynamoDB refuses a partition key over 2048 bytes with a ValidationException ("Service, account, and
    # table quotas": partition key value length), which moto does not check: the table is watched instead.
    asked: list[str] = []
    monkeypatch.setattr(PredictionStore, "get", lambda self, ref: asked.append(ref))
    answer = callback(api, "replicate", ref, b"{}", {})
    assert answer.status == 401  # not a 500 from the key-size limit: no ref of ours is anything but token_urlsafe(32)
    assert answer.body["code"] == "unauthorized"
    assert asked == []


def keys_call(api: Api, method: str, provider: str, body: Any = None, tenant: str | None = "tenant-a") -> Answer:
    event = rest_api_event(
        method,
        f"/api/provider-keys/{provider}",
        resource="/api/provider-keys/{provider}",
        path_parameters={"provider": provider},
        headers={"Content-Type": "application/json"},
        body=None if body is None else (body if isinstance(body, str) else json.dumps(body)),
        tenant_id=tenant,
    )
    return api.call(KEYS, event)


def test_a_tenants_key_is_sealed_shown_by_its_last_four_and_removed(api: Api, providers: Harness) -> None:
    key = providers.replicate.key  # r8_fake_token_0123456789
    stored = keys_call(api, "PUT", "replicate", {"apiKey": key})
    assert stored.status == 200
    assert stored.body["provider"] == "replicate"
    assert stored.body["last4"] == "6789"
    assert key not in json.dumps(providers.items(), default=str)
    shown = keys_call(api, "GET", "replicate")
    assert shown.body["last4"] == "6789"
    assert key not in shown.raw.decode()
    assert keys_call(api, "GET", "replicate", tenant="tenant-b").status == 404  # tenant-scoped
    # The worker opens it for this tenant's jobs (and only the worker may)
    with pytest.raises(JobDeferred):
        providers.executor.run(providers.job("generate", SEEDANCE), lambda: None)
    (create,) = providers.replicate.calls_to("POST", "/v1/models/")
    assert create.headers["authorization"] == f"Bearer {key}"
    assert keys_call(api, "DELETE", "replicate").status == 204
    assert keys_call(api, "GET", "replicate").body["code"] == "provider_key_not_found"
    assert keys_call(api, "DELETE", "replicate").status == 404


def test_bad_provider_key_requests_are_refused_in_words(api: Api) -> None:
    assert keys_call(api, "PUT", "acme", {"apiKey": "k" * 20}).body["code"] == "provider_not_found"
    assert keys_call(api, "PUT", "hume", {"apiKey": "k" * 20}).status == 404
    for body in ({}, {"apiKey": ""}, {"apiKey": 7}, {"apiKey": "k" * 1025}, {"apiKey": "k", "other": 1}):
        answer = keys_call(api, "PUT", "fal", body)
        assert answer.status == 400
        assert answer.body["code"] == "invalid_provider_key"
    assert keys_call(api, "PUT", "fal", "not json").body["code"] == "malformed_json"
    assert keys_call(api, "GET", "fal", tenant=None).status == 401
    assert keys_call(api, "POST", "fal", {"apiKey": "x" * 12}).status == 405


@pytest.mark.parametrize(
    ("environment", "params", "code", "words"),
    [
        # Deployed (no local stand-ins, no simulated executor): the map decides.
        ({}, {"provider": "hume", "modelId": "hume/tts"}, "provider_shut_down", ["shut down", "elevenlabs"]),
        ({}, {"modelId": "acme/video-9"}, "unknown_model", ["'acme/video-9'", "minimax/video-01"]),
        ({}, {"provider": "acme", "modelId": "minimax/video-01"}, "unknown_provider", ["elevenlabs, fal, replicate"]),
        ({}, {"prompt": "a cat"}, "model_required", ["no default model"]),
        # A configured default serves the job that names no model; a bad one is caught as the model it names.
        ({"DEFAULT_MODELS": "generate=minimax/video-01"}, {"prompt": "a cat"}, None, []),
        ({"DEFAULT_MODELS": "generate=acme/video-9"}, {"prompt": "a cat"}, "unknown_model", ["'acme/video-9'"]),
        # make run's local provider stands in for a job that names no model; a named provider is still checked.
        ({"LOCAL_PROVIDERS": "true"}, {"prompt": "a cat"}, None, []),
        ({"LOCAL_PROVIDERS": "true"}, {"provider": "hume"}, "provider_shut_down", ["shut down"]),
        # A job the simulated executor runs reaches no provider: unchecked.
        ({"SIMULATED_EXECUTOR": "true"}, {"provider": "hume", "simulate": {}}, None, []),
    ],
)
def test_intake_refuses_a_model_or_provider_it_cannot_run_with_a_422_in_words(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    params: dict[str, Any],
    code: str | None,
    words: list[str],
) -> None:
    # Given a deployment's settings
    settings = {"LOCAL_PROVIDERS": "false", "SIMULATED_EXECUTOR": "false", "DEFAULT_MODELS": "", **environment}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    forget_cached_configuration()
    # When a generation job is submitted through the submit handler
    answer = api.submit({"executionPlan": {"jobs": [{"id": "a", "operation": "generate", "params": params}]}})
    # Then it is accepted, or refused before anything runs with the code and words of the problem
    if code is None:
        assert answer.status == 202, answer.body
        return
    assert answer.status == 422, answer.body
    (error,) = answer.body["errors"]
    assert error["code"] == code
    assert error["pointer"].startswith("/executionPlan/jobs/0/params")
    assert all(word in error["message"] for word in words), error
