"""Credentials are sealed with KMS, bound to their owner by the encryption context.

One KMS key (`CredentialKey` in template.yaml, its ARN in `CREDENTIAL_KEY_ID`) seals every credential the
service stores: an execution's webhook secret, its provider keys and the credentials in its jobs' params,
and a provider job's task token (CredentialCipher, under the execution's context); a tenant's stored provider
keys (ProviderKeyCipher, under the tenant's and provider's context). Both seal and unseal, and whoever holds
one calls it `cipher`. The table only ever holds ciphertext. The encryption context ({"executionId": id})
means a ciphertext copied onto another execution cannot be decrypted there. A secret sealed for one purpose
adds {"purpose": ...}: IAM lets a function decrypt that purpose alone (the provider callback opens
Replicate's signing secret, nothing else), and functions allowed only {"executionId"} cannot open it.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import SecretStr

from execution_api.core.aws_errors import call

REPLICATE_WEBHOOK = "replicate-webhook"  # a prediction's Replicate signing secret, opened by the callback route


def _context(execution_id: str, purpose: str | None) -> dict[str, str]:
    return {"executionId": execution_id} | ({"purpose": purpose} if purpose else {})


class SecretSealer(Protocol):
    """Seals a secret for one execution (CredentialCipher with KMS; an in-memory one in unit tests)."""

    def seal(self, execution_id: str, secret: SecretStr, purpose: str | None = None) -> bytes: ...


class CredentialCipher:
    """Seals and opens credentials with the KMS key, under the execution's (and purpose's) context."""

    def __init__(self, client: Any, key_id: str) -> None:
        self._client = client
        self._key_id = key_id

    def seal(self, execution_id: str, secret: SecretStr, purpose: str | None = None) -> bytes:
        response = call(
            self._client,
            "encrypt",
            KeyId=self._key_id,
            Plaintext=secret.get_secret_value().encode("utf-8"),
            EncryptionContext=_context(execution_id, purpose),
        )
        ciphertext: bytes = response["CiphertextBlob"]
        return ciphertext

    def unseal(self, execution_id: str, ciphertext: bytes, purpose: str | None = None) -> SecretStr:
        """Fails unless the ciphertext was sealed for this execution (and purpose)."""
        response = call(
            self._client,
            "decrypt",
            KeyId=self._key_id,
            CiphertextBlob=ciphertext,
            EncryptionContext=_context(execution_id, purpose),
        )
        return SecretStr(response["Plaintext"].decode("utf-8"))


class ProviderKeyCipher:
    """Seals and opens a tenant's provider key with the KMS key, bound to (tenant, provider) by the encryption
    context: a ciphertext copied to another tenant or provider does not open."""

    def __init__(self, client: Any, key_id: str) -> None:
        self._client = client
        self._key_id = key_id

    def seal(self, tenant_id: str, provider: str, key: SecretStr) -> bytes:
        response = call(
            self._client,
            "encrypt",
            KeyId=self._key_id,
            Plaintext=key.get_secret_value().encode("utf-8"),
            EncryptionContext={"tenantId": tenant_id, "provider": provider},
        )
        ciphertext: bytes = response["CiphertextBlob"]
        return ciphertext

    def unseal(self, tenant_id: str, provider: str, ciphertext: bytes) -> SecretStr:
        response = call(
            self._client,
            "decrypt",
            KeyId=self._key_id,
            CiphertextBlob=ciphertext,
            EncryptionContext={"tenantId": tenant_id, "provider": provider},
        )
        return SecretStr(response["Plaintext"].decode("utf-8"))
