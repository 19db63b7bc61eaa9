"""Webhook signatures: Standard Webhooks (https://www.standardwebhooks.com) plus `X-Webhook-Signature`.

`X-Webhook-Signature` is the header the original backend (the one this service replaces) signed its webhooks
with; it is sent beside Standard Webhooks' headers so receivers written for that backend keep verifying.

Pure functions, no AWS, no network. The key never leaves this module in a header or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of Standard Webhooks secrets, not a secret


def signing_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part of a `whsec_` secret, otherwise the secret's UTF-8 bytes.

    A `whsec_` secret whose rest is not valid base64 is used as plain text, as a whole, so a
    secret never fails delivery; receivers then verify with the same UTF-8 bytes.
    """
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            # Standard Webhooks' libraries accept unpadded base64: pad before a strict decode.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode("utf-8")


def whsec_problem(secret: str) -> str | None:
    """Why a `whsec_` secret is one no Standard Webhooks library can use (they base64-decode the rest,
    standard alphabet, padded); None for a usable one, or a secret without the prefix (used as text)."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    encoded = secret[len(SECRET_PREFIX) :]
    if not encoded:
        reason = "has nothing after the prefix"
    elif any(c.isspace() for c in encoded):
        reason = "holds spaces"
    elif "-" in encoded or "_" in encoded:
        reason = "uses the URL-safe base64 alphabet ('-' or '_') where the libraries read A-Z a-z 0-9 + /"
    else:
        try:
            base64.b64decode(encoded, validate=True)
            return None
        except (binascii.Error, ValueError):
            reason = "is not base64 after the prefix (A-Z a-z 0-9 + /, '=' padded to a multiple of 4 characters)"
    return (
        f"a whsec_ webhook secret {reason}, so no Standard Webhooks library can verify with it; send the "
        "secret as such a library made it, or a secret without the whsec_ prefix (used as plain text)"
    )


def standard_webhooks_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`: the `webhook-signature` header's value."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def body_signature(key: bytes, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`: the value of `X-Webhook-Signature`, the original backend's header."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def delivery_headers(message_id: str, timestamp: int, body: bytes, secret: str | None) -> dict[str, str]:
    """The identifying and signature headers of one attempt; without a secret, no signature headers.

    Each header keeps its own rule: Standard Webhooks decodes a `whsec_` secret, while the original backend
    keyed `X-Webhook-Signature` with the secret string exactly as the client gave it, whatever its prefix."""
    headers = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secret:
        headers["webhook-signature"] = standard_webhooks_signature(signing_key(secret), message_id, timestamp, body)
        headers["X-Webhook-Signature"] = body_signature(secret.encode("utf-8"), body)
    return headers
