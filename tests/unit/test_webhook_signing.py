"""Webhook signatures, checked against the Standard Webhooks reference implementation (PyPI `standardwebhooks`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from execution_api.webhooks.signing import delivery_headers, signing_key

BODY = b'{"executionId":"V1StGXR8_Z5jdHi6B-myT","status":"completed","result":{"url":"https://x.invalid/v.mp4","status":"completed"},"completedAt":"2026-11-26T06:47:19.123Z"}'
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks specification's example secret


def test_the_specification_vector() -> None:
    # Given the example of the Standard Webhooks specification (and its reference tests)
    message_id, timestamp = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    body = b'{"test": 2432232314}'
    # When signing
    headers = delivery_headers(message_id, timestamp, body, WHSEC)
    # Then the signature is the published one
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("secret", [WHSEC, "whsec_" + base64.b64encode(b"\x00\xff raw key bytes").decode()])
def test_a_whsec_secret_verifies_with_the_reference_library(secret: str) -> None:
    # Given headers made now for a whsec_ secret
    headers = delivery_headers("msg_abc", int(time.time()), BODY, secret)
    # Then the reference library, given the same secret string, accepts them
    assert Webhook(secret).verify(BODY, headers)["status"] == "completed"
    # And the key is the decoded part, not the text
    assert signing_key(secret) == base64.b64decode(secret.removeprefix("whsec_"))


@pytest.mark.parametrize("secret", ["a shared secret", "ünïcødé 🔑", "x" * 512, "whsec_not base64!"])
def test_a_plain_secret_signs_with_its_utf8_bytes(secret: str) -> None:
    headers = delivery_headers("msg_abc", int(time.time()), BODY, secret)
    # The reference library takes the key as bytes for a secret that is not whsec_ base64
    Webhook(secret.encode("utf-8")).verify(BODY, headers)
    assert signing_key(secret) == secret.encode("utf-8")


def test_the_reference_signer_gives_the_same_header() -> None:
    now = int(time.time())
    ours = delivery_headers("msg_1", now, BODY, WHSEC)["webhook-signature"]
    theirs = Webhook(WHSEC).sign("msg_1", datetime.fromtimestamp(now, tz=UTC), BODY.decode())
    assert ours == theirs


def test_a_changed_body_id_or_timestamp_fails_verification() -> None:
    now = int(time.time())
    headers = delivery_headers("msg_1", now, BODY, WHSEC)
    webhook = Webhook(WHSEC)
    with pytest.raises(WebhookVerificationError):
        webhook.verify(BODY + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        webhook.verify(BODY, {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        webhook.verify(BODY, {**headers, "webhook-timestamp": str(now + 1)})


def test_x_webhook_signature_is_the_hex_hmac_of_the_body() -> None:
    headers = delivery_headers("msg_1", 1, BODY, "a shared secret")
    expected = hmac.new(b"a shared secret", BODY, hashlib.sha256).hexdigest()
    assert headers["X-Webhook-Signature"] == f"sha256={expected}"


def test_no_secret_no_signature_headers() -> None:
    headers = delivery_headers("msg_1", 1700000000, BODY, None)
    assert headers == {"webhook-id": "msg_1", "webhook-timestamp": "1700000000"}


def original_backend_receiver_verifies(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """A receiver written for the original backend: `X-Webhook-Signature`, HMAC-SHA256 of the raw body keyed
    with the secret string as given."""
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Webhook-Signature", ""), expected)


@pytest.mark.parametrize("secret", [WHSEC, "whsec_not base64!", "a shared secret", "ünïcødé 🔑"])
def test_x_webhook_signature_is_keyed_with_the_secret_string_whatever_its_prefix(secret: str) -> None:
    # Given a delivery signed with a secret, whsec_ or not
    headers = delivery_headers("msg_1", int(time.time()), BODY, secret)
    # Then a receiver written for the original backend verifies it, and Standard Webhooks' header keeps its own rule
    assert original_backend_receiver_verifies(BODY, headers, secret)
    key = secret if secret.startswith("whsec_") and signing_key(secret) != secret.encode() else secret.encode()
    Webhook(key).verify(BODY, headers)
