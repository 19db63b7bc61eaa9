"""No secret reaches a log, even at DEBUG (docs/security.md): not as written and not in base64, which is how
botocore's DEBUG output writes a KMS Encrypt's plaintext. Covered: a webhook secret at intake (KMS Encrypt),
a deployment's provider key read from Secrets Manager and a tenant's stored key opened by KMS Decrypt."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from execution_api.core.observability import SDK_LOGGERS
from local.events import rest_api_event
from local.stack import LocalDeployment, forget_cached_configuration
from tests.support import Api, plan, stored_items


def base64_forms(secret: str) -> list[str]:
    """The base64 text that holds `secret` wherever it sits in a larger plaintext: one form per alignment
    (its offset modulo 3), keeping only the characters whose 6 bits are all the secret's own."""
    data = secret.encode("utf-8")
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        first = -(-offset * 8 // 6)  # the first character that starts inside the secret
        last = (offset + len(data)) * 8 // 6  # the characters before this one end inside it
        forms.append(encoded[first:last])
    return forms


def test_the_base64_forms_find_a_secret_at_any_offset() -> None:
    for prefix in ("", "a", "ab", "abc", '{"values":["'):
        encoded = base64.b64encode(f"{prefix}hunter2-secret!x".encode()).decode()
        assert any(form in encoded for form in base64_forms("hunter2-secret"))
    assert not any(form in base64.b64encode(b"hunter3-secret").decode() for form in base64_forms("hunter2-secret"))


@contextmanager
def debug_everywhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[logging.LogRecord]]:
    """DEBUG logging as LogLevel=DEBUG gives a function (Lambda sets the root logger's level, Powertools its
    own), every record kept: the root logger's and Powertools' (which does not propagate)."""
    from execution_api.core.observability import logger

    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_DEBUG", "true")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    logger.setLevel("DEBUG")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    listened = [root, logging.getLogger(logger.name)]
    for listener in listened:
        listener.addHandler(handler)
    try:
        # The capture sees what a propagating logger writes at DEBUG (as botocore's would, were it not held)
        logging.getLogger("tests.probe").debug("probe")
        assert [record.getMessage() for record in records] == ["probe"]
        yield records
    finally:
        for listener in listened:
            listener.removeHandler(handler)
        logger.setLevel("INFO")
        root.setLevel(level)


def logged_text(records: list[logging.LogRecord]) -> str:
    return "\n".join(record.getMessage() + repr(record.__dict__) for record in records)


def assert_never_logged(secret: str, records: list[logging.LogRecord], captured: str) -> None:
    text = logged_text(records) + captured
    assert secret not in text
    for form in base64_forms(secret):
        assert form not in text, f"the secret is logged in base64 ({form})"


@pytest.mark.parametrize(("level", "expected"), [("DEBUG", logging.INFO), ("WARNING", logging.WARNING)])
def test_the_sdk_loggers_stay_at_info_or_above_whatever_lambda_sets(level: str, expected: int) -> None:
    # As Lambda's runtime does: the root logger gets ApplicationLogLevel before the handler is imported.
    program = (
        f"import logging; logging.getLogger().setLevel({level!r}); import execution_api.core.observability as o; "
        "print([logging.getLogger(name).getEffectiveLevel() for name in o.SDK_LOGGERS])"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    answer = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", program], capture_output=True, text=True, env=environment
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == [expected] * len(SDK_LOGGERS)


def test_the_webhook_secret_is_never_logged_even_at_debug(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "hunter2-webhook-secret"
    with debug_everywhere(monkeypatch) as records:
        # When requests carrying the secret succeed, fail validation and fail the envelope
        options = {"webhookUrl": "https://example.com/h", "webhookSecret": secret}
        accepted = api.submit({**plan({"id": "a"}), "options": options})
        # and a credential inside params is sealed with it: the secret sits inside the KMS plaintext's JSON
        api.submit({**plan({"id": "a", "params": {"apiKey": secret}}), "options": options})
        api.submit({**plan({"id": "a", "dependsOn": ["x"]}), "options": options})
        api.submit({**plan({"id": "a"}), "options": {**options, "webhookSecret": secret * 40}})
        api.submit({**plan({"id": "a"}), "options": options}, headers={"Content-Type": "text/plain"})
        api.status(accepted.body["id"])
    # Then the secret is in no log line, as written or in base64, no stdout/stderr output, and no stored item
    captured = capsys.readouterr()
    assert any("execution accepted" in record.getMessage() for record in records)  # and the service's own
    assert_never_logged(secret, records, captured.out + captured.err)
    items = stored_items(aws)
    assert items
    assert secret.encode() not in repr(items).encode()


@pytest.mark.moto_only(reason="the deployment key is a Secrets Manager secret, which the ministack run leaves out")
def test_a_deployment_key_and_an_opened_tenant_key_are_never_logged_even_at_debug(
    api: Api, aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    # Given a deployment key in Secrets Manager and a tenant's key stored through its route
    deployment_key = "r8_DEPLOYMENTKEY_abc123"
    tenant_key = "fal-tenant-key-0123456789"
    monkeypatch.setenv("PROVIDER_KEY_SECRET_PREFIX", "media-test/providers/")
    monkeypatch.setenv("LOCAL_PROVIDERS", "false")
    monkeypatch.setenv("OUTPUTS_BUCKET_NAME", aws.names.get("OutputsBucket", "outputs"))
    forget_cached_configuration()
    boto3.client("secretsmanager").create_secret(Name="media-test/providers/replicate", SecretString=deployment_key)
    with debug_everywhere(monkeypatch) as records:
        put = rest_api_event(
            "PUT",
            "/api/provider-keys/fal",
            resource="/api/provider-keys/{provider}",
            path_parameters={"provider": "fal"},
            headers={"Content-Type": "application/json"},
            body=json.dumps({"apiKey": tenant_key}),
            tenant_id="local",
        )
        assert api.call("ProviderKeysFunction", put).status == 200
        # When a worker reads the deployment key (GetSecretValue) and opens the tenant's (KMS Decrypt)
        from execution_api.core.aws_clients import engine_dynamodb_client, kms_client
        from execution_api.core.sealing import ProviderKeyCipher
        from execution_api.providers.executor import tenant_key_reader
        from execution_api.providers.wiring import _deployment_keys
        from execution_api.storage.provider_keys import ProviderKeyStore

        assert _deployment_keys()("replicate") == deployment_key
        table, key_id = aws.names["ExecutionsTable"], aws.attributes[("CredentialKey", "Arn")]
        read: Any = tenant_key_reader(
            ProviderKeyStore(engine_dynamodb_client(), table), ProviderKeyCipher(kms_client(), key_id)
        )
        assert read("local", "fal") == tenant_key
    # Then neither key is in any log line, as written or in base64
    captured = capsys.readouterr()
    for secret in (deployment_key, tenant_key):
        assert_never_logged(secret, records, captured.out + captured.err)
    forget_cached_configuration()
