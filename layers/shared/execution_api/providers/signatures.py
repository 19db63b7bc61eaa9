"""The providers' callback signatures (docs/providers.md, "Callbacks"). A callback that fails these changes
nothing: 401.

- Replicate signs in the Standard Webhooks scheme (OPERATIONS.md 5.1): `webhook-id`, `webhook-timestamp`,
  `webhook-signature`, HMAC-SHA256 with the account's `whsec_` secret; the reference library checks the
  signature and refuses timestamps more than 5 minutes away (a replay).
- fal signs with ED25519 (OPERATIONS.md 5.2): the hex signature in `x-fal-webhook-signature` covers request
  id, user id, timestamp and the hex SHA-256 of the body, joined by newlines; the public keys are fal's JWKS
  (FAL_JWKS_URL, cached for at most a day); timestamps more than 5 minutes away are refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOLERANCE_SECONDS = 300
JWKS_CACHE_SECONDS = 86_400
JWKS_REFRESH_SECONDS = 300  # a failed signature refetches the keys at most this often (forgeries cannot flood fal)


class BadSignature(Exception):
    """The callback is not the provider's, or is a replay."""


def verify_replicate(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError, binascii.Error) as error:
        raise BadSignature("replicate's signature does not match") from error


@dataclass
class FalKeys:
    """fal's ED25519 public keys, fetched from the JWKS URL and kept for a day (a key that fails is
    looked up again once, in case fal rotated its keys)."""

    fetch: Callable[[], bytes]  # GET of the JWKS document
    clock: Callable[[], float] = time.time
    _keys: list[bytes] = field(default_factory=list)
    _fetched_at: float = float("-inf")

    def keys(self, refresh: bool = False) -> list[bytes]:
        age = self.clock() - self._fetched_at
        if (refresh and age > JWKS_REFRESH_SECONDS) or age > JWKS_CACHE_SECONDS:
            document = json.loads(self.fetch())
            self._keys = [
                base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4))
                for k in document.get("keys", [])
                if isinstance(k, dict) and k.get("kty") == "OKP" and k.get("crv") == "Ed25519" and "x" in k
            ]
            self._fetched_at = self.clock()
        return self._keys


def verify_fal(keys: FalKeys, body: bytes, headers: Mapping[str, str], now: float | None = None) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    lowered = {k.lower(): v for k, v in headers.items()}
    parts = [lowered.get(f"x-fal-webhook-{name}", "") for name in ("request-id", "user-id", "timestamp", "signature")]
    request_id, user_id, timestamp, signature = parts
    if not all(parts):
        raise BadSignature("fal's signature headers are missing")
    try:
        sent_at, signed = int(timestamp), bytes.fromhex(signature)
    except ValueError:
        raise BadSignature("fal's signature headers are malformed") from None
    if abs((time.time() if now is None else now) - sent_at) > TOLERANCE_SECONDS:
        raise BadSignature("fal's callback is too old or too new (a replay?)")
    message = "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()
    for refresh in (False, True):
        for raw in keys.keys(refresh=refresh):
            try:
                Ed25519PublicKey.from_public_bytes(raw).verify(signed, message)
            except (InvalidSignature, ValueError):
                continue
            return
    raise BadSignature("fal's signature does not match its published keys")


def callback_request_id(provider: str, body: Any, headers: Mapping[str, str]) -> str | None:
    """The provider's own id for the callback's prediction, to match it against the record."""
    if provider == "replicate":
        return body.get("id") if isinstance(body, dict) else None
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get("x-fal-webhook-request-id")


def callback_message_id(provider: str, headers: Mapping[str, str]) -> str:
    """The signed message's identity: its id and timestamp, both covered by the signature. The same message
    sent again (inside the 5 minutes the timestamp allows) is a replay; a provider's own retry is signed anew."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if provider == "replicate":
        return f"{lowered.get('webhook-id', '')}.{lowered.get('webhook-timestamp', '')}"
    return f"{lowered.get('x-fal-webhook-request-id', '')}.{lowered.get('x-fal-webhook-timestamp', '')}"
