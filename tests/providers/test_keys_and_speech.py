"""Which key a provider job uses (issue 22 point 4) and ElevenLabs' synchronous speech (point 5): the order
params.apiKey, options.providerApiKeys, the tenant's stored key, the deployment's secret; no key is a failed
job naming the ways to give one, or the local provider under make run; a key never in clear at rest."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from pydantic import SecretStr

from execution_api.engine.executors import JobDeferred, JobFailed
from execution_api.providers.keys import choose_key, last_four
from tests.providers.conftest import Harness
from tests.providers.fakes import MP3, Scripted

SPEECH = {"provider": "elevenlabs", "modelId": "elevenlabs/turbo-v2.5", "text": "Hello there", "voiceId": "voice-1",
          "stability": 0.4, "similarityBoost": 0.7, "languageCode": "en"}  # fmt: skip


def store_tenant_key(providers: Harness, provider: str, key: str) -> None:
    sealed = providers.key_cipher.seal("tenant-a", provider, SecretStr(key))
    providers.key_store.put("tenant-a", provider, sealed, last_four(key))


@pytest.mark.parametrize(
    ("params_key", "execution_key", "tenant_key", "deployment_key", "chosen"),
    [
        ("p", "e", "t", "d", "p"),
        (None, "e", "t", "d", "e"),
        (None, None, "t", "d", "t"),
        (None, None, None, "d", "d"),
        (None, None, None, None, None),
        ("  ", None, None, "d", "d"),
    ],
)
def test_keys_are_chosen_in_the_documented_order(
    params_key: str | None,
    execution_key: str | None,
    tenant_key: str | None,
    deployment_key: str | None,
    chosen: str | None,
) -> None:
    params = {"apiKey": params_key} if params_key is not None else {}
    keys = {"fal": execution_key} if execution_key else {}
    assert choose_key("fal", params, keys, lambda: tenant_key, lambda: deployment_key) == chosen


def test_a_tenants_key_opens_only_for_its_tenant_and_provider(providers: Harness) -> None:
    # Given a key sealed for tenant-a's replicate (KMS context {tenantId, provider})
    sealed = providers.key_cipher.seal("tenant-a", "replicate", SecretStr("r8_secret_key_1234"))
    assert b"r8_secret_key_1234" not in sealed
    # When it is unsealed, then only under the same tenant and provider
    assert providers.key_cipher.unseal("tenant-a", "replicate", sealed).get_secret_value() == "r8_secret_key_1234"
    for tenant, provider in (("tenant-b", "replicate"), ("tenant-a", "fal")):
        with pytest.raises(ClientError):
            providers.key_cipher.unseal(tenant, provider, sealed)


def test_speech_is_stored_in_the_bucket_with_the_api_fields(providers: Harness) -> None:
    job = providers.job("generateAudio", SPEECH, {"elevenlabs": providers.elevenlabs.key})
    result = providers.executor.run(job, lambda: None)
    call = providers.elevenlabs.calls_to("POST", "/v1/text-to-speech/")[0]
    assert call.path == "/v1/text-to-speech/voice-1"
    assert call.query == {"output_format": ["mp3_44100_128"]}
    assert call.headers["xi-api-key"] == providers.elevenlabs.key
    assert call.json() == {
        "text": "Hello there", "model_id": "eleven_turbo_v2_5", "language_code": "en",
        "voice_settings": {"stability": 0.4, "similarity_boost": 0.7},
    }  # fmt: skip
    (output,) = result["outputs"]
    assert output["mimeType"] == "audio/mpeg"
    assert output["type"] == "audio"
    assert output["bytes"] == len(MP3)
    assert providers.object(output["url"]) == MP3


def test_the_tenants_stored_key_is_used_and_never_stored_in_clear(providers: Harness) -> None:
    store_tenant_key(providers, "elevenlabs", providers.elevenlabs.key)
    providers.executor.run(providers.job("generateAudio", SPEECH), lambda: None)
    assert providers.elevenlabs.calls_to("POST", "/v1/")[0].headers["xi-api-key"] == providers.elevenlabs.key
    assert providers.elevenlabs.key not in json.dumps(providers.items(), default=str)


def test_a_deployment_key_is_the_last_resort(providers: Harness) -> None:
    providers.deployment_keys["elevenlabs"] = providers.elevenlabs.key
    providers.executor.run(providers.job("generateAudio", SPEECH), lambda: None)
    assert len(providers.elevenlabs.calls_to("POST", "/v1/")) == 1


def test_speech_refusals_are_sentences(providers: Harness) -> None:
    with pytest.raises(JobFailed) as rejected:
        providers.executor.run(providers.job("generateAudio", SPEECH, {"elevenlabs": "sk_wrong_key_000"}), lambda: None)
    assert (rejected.value.message, rejected.value.retryable) == ("elevenlabs rejected the API key", False)
    with pytest.raises(JobFailed) as voice:
        providers.executor.run(
            providers.job("generateAudio", {**SPEECH, "voiceId": "nope"}, {"elevenlabs": providers.elevenlabs.key}),
            lambda: None,
        )
    assert voice.value.message == "elevenlabs refused the input: A voice with that ID does not exist"
    # Three 5xx in a row: tried three times, then left to Step Functions' retry
    providers.elevenlabs.script("speech", *[Scripted(503, {"detail": {"status": "system_busy"}})] * 3)
    with pytest.raises(JobFailed) as busy:
        providers.executor.run(
            providers.job("generateAudio", SPEECH, {"elevenlabs": providers.elevenlabs.key}), lambda: None
        )
    assert (busy.value.message, busy.value.retryable) == ("elevenlabs failed with HTTP 503", True)
    assert len(providers.elevenlabs.calls_to("POST", "/v1/text-to-speech/")) == 2 + 3


def test_speech_answered_503_then_success_completes_with_one_audio(providers: Harness) -> None:
    # A 503 is Service Unavailable: the request was not processed (RFC 9110 15.6.4), so no audio was made to
    # bill, and the same request is sent again.
    providers.elevenlabs.script("speech", Scripted(503, {"detail": {"status": "system_busy"}}))
    result = providers.executor.run(
        providers.job("generateAudio", SPEECH, {"elevenlabs": providers.elevenlabs.key}), lambda: None
    )
    assert result["status"] == "completed"
    (output,) = result["outputs"]
    assert providers.object(output["url"]) == MP3
    assert len(providers.elevenlabs.calls_to("POST", "/v1/text-to-speech/")) == 2
    assert providers.sleeps == [1.0]


def test_speech_answered_500_fails_in_words_with_one_call(providers: Harness) -> None:
    # ElevenLabs documents nothing about its 500 (OPERATIONS.md 5.3): the speech may have been made (and billed)
    # before the server failed, so it is not asked again, neither now nor by Step Functions.
    providers.elevenlabs.script("speech", Scripted(500, {"detail": {"status": "internal_error"}}, processed=True))
    with pytest.raises(JobFailed) as failed:
        providers.executor.run(
            providers.job("generateAudio", SPEECH, {"elevenlabs": providers.elevenlabs.key}), lambda: None
        )
    assert failed.value.message == (
        "elevenlabs answered HTTP 500 when asked to start the work; it was not asked again, since it may have "
        "started it anyway (check the elevenlabs dashboard before running the job again)"
    )
    assert not failed.value.retryable
    assert len(providers.elevenlabs.calls_to("POST", "/v1/text-to-speech/")) == 1
    assert providers.sleeps == []


def test_no_key_anywhere_fails_naming_the_ways_to_give_one(providers: Harness) -> None:
    with pytest.raises(JobFailed) as failed:
        providers.executor.run(providers.job("generate", {"modelId": "minimax/video-01", "prompt": "p"}), lambda: None)
    assert not failed.value.retryable
    for way in ("params.apiKey", "options.providerApiKeys.replicate", "PUT /api/provider-keys/replicate", "secret"):
        assert way in failed.value.message


def test_under_make_run_no_key_runs_locally_unless_the_provider_points_at_a_fake(providers: Harness) -> None:
    job = providers.job("generate", {"modelId": "minimax/video-01", "prompt": "p"})
    # The harness points every provider at a fake: then no key fails as deployed
    providers.executor.settings = replace_settings(providers, LOCAL_PROVIDERS="true")
    with pytest.raises(JobFailed):
        providers.executor.run(job, lambda: None)
    # With the real base URL and local stand-ins on, the local provider runs it
    providers.executor.settings = replace_settings(providers, LOCAL_PROVIDERS="true", REPLICATE_API_URL="")
    assert providers.executor.run(job, lambda: None)["metadata"] == {"provider": "local"}
    # Turned off, it fails as deployed
    providers.executor.settings = replace_settings(
        providers, LOCAL_PROVIDERS="true", REPLICATE_API_URL="", LOCAL_STAND_INS="false"
    )
    with pytest.raises(JobFailed):
        providers.executor.run(job, lambda: None)
    # A key given runs on the provider even under make run
    providers.executor.settings = replace_settings(providers, LOCAL_PROVIDERS="true")
    with pytest.raises(JobDeferred):
        providers.executor.run(replace(job, provider_api_keys={"replicate": providers.replicate.key}), lambda: None)


@pytest.mark.parametrize("local_providers", ["true", "false"])
def test_make_run_takes_the_deployment_key_from_the_providers_usual_variable(
    aws: object, monkeypatch: pytest.MonkeyPatch, local_providers: str
) -> None:
    from local.stack import forget_cached_configuration

    monkeypatch.setenv("LOCAL_PROVIDERS", local_providers)
    monkeypatch.setenv("PROVIDER_KEY_SECRET_PREFIX", "")  # no Secrets Manager secret to fall back on
    monkeypatch.setenv("REPLICATE_API_TOKEN", " r8_from_the_shell_0123 ")
    monkeypatch.setenv("FAL_KEY", "")
    forget_cached_configuration()
    from execution_api.providers.wiring import _deployment_keys

    read = _deployment_keys()
    expected = "r8_from_the_shell_0123" if local_providers == "true" else None  # deployed: never the environment
    assert read("replicate") == expected
    assert read("fal") is None  # set but empty
    assert read("elevenlabs") is None  # not set
    forget_cached_configuration()


def deployment_keys(monkeypatch: pytest.MonkeyPatch, local_providers: str) -> Any:
    from local.stack import forget_cached_configuration

    monkeypatch.setenv("LOCAL_PROVIDERS", local_providers)
    monkeypatch.setenv("PROVIDER_KEY_SECRET_PREFIX", "media-prod/providers/")
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    forget_cached_configuration()
    from execution_api.providers.wiring import _deployment_keys

    return _deployment_keys()


def test_a_deployed_worker_reads_the_deployments_secret_and_make_run_never_does(
    aws: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the deployment's keys in Secrets Manager, as docs/providers.md says to create them
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="media-prod/providers/replicate", SecretString="r8_deployed_0123")
    secrets.create_secret(Name="media-prod/providers/fal", SecretString='{"apiKey": "fal-deployed:0123"}')

    # Deployed: the plain and the JSON form; no secret is no key
    read = deployment_keys(monkeypatch, "false")
    assert (read("replicate"), read("fal"), read("elevenlabs")) == ("r8_deployed_0123", "fal-deployed:0123", None)

    # A deployed stack with LocalProviders on still reads its secrets
    read = deployment_keys(monkeypatch, "true")
    assert (read("replicate"), read("fal")) == ("r8_deployed_0123", "fal-deployed:0123")

    # make run (a local backend): the shell's variables only; ministack has no Secrets Manager at all
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # nothing listens: a request would fail
    read = deployment_keys(monkeypatch, "true")
    assert (read("replicate"), read("fal")) == (None, None)


@pytest.mark.parametrize(
    ("code", "retried"),
    [
        ("AccessDeniedException", False),
        ("DecryptionFailure", False),
        ("ThrottlingException", True),
        ("InternalServiceError", True),
    ],
)
def test_a_deployment_secret_that_cannot_be_read_fails_in_words_or_is_retried(
    aws: object, monkeypatch: pytest.MonkeyPatch, code: str, retried: bool
) -> None:
    # Given Secrets Manager refusing the read
    real_client = boto3.client

    def refusing_client(service: str, *args: Any, **kwargs: Any) -> Any:
        client = real_client(service, *args, **kwargs)
        stubber = Stubber(client)
        stubber.add_client_error("get_secret_value", service_error_code=code, service_message="AWS says: arn:aws:...")
        stubber.activate()
        return client

    monkeypatch.setattr(boto3, "client", refusing_client)
    read = deployment_keys(monkeypatch, "false")

    # Then a passing fault goes to the worker, which retries it; anything else is a failed job in words
    if retried:
        with pytest.raises(ClientError):
            read("replicate")
        return
    with pytest.raises(JobFailed) as failed:
        read("replicate")
    assert failed.value.retryable is False
    assert failed.value.message == (
        "this deployment's replicate key could not be read; an operator must check its Secrets Manager secret"
        " and the worker's permission to read it (the worker's log names the secret)"
    )  # the secret's name, an internal resource, stays in the log; AWS's own text nowhere


def replace_settings(providers: Harness, **changes: str) -> object:
    from execution_api.providers.settings import ProviderSettings

    values = providers.settings.model_dump(by_alias=True)
    values.update(changes)
    if values.get("REPLICATE_API_URL") == "":
        del values["REPLICATE_API_URL"]
    return ProviderSettings.model_validate(values)
