"""Webhook secrets are sealed with KMS, bound to their execution by the encryption context.

The table only ever holds ciphertext. The encryption context ({"executionId": id}) means a
ciphertext copied onto another execution cannot be decrypted there.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import SecretStr

from execution_api.aws_errors import call


class SecretSealer(Protocol):
    """Seals a secret for one execution (WebhookSecretCipher with KMS; an in-memory one in unit tests)."""

    def seal(self, execution_id: str, secret: SecretStr) -> bytes: ...


class WebhookSecretCipher:
    def __init__(self, client: Any, key_id: str) -> None:
        self._client = client
        self._key_id = key_id

    def seal(self, execution_id: str, secret: SecretStr) -> bytes:
        response = call(
            self._client,
            "encrypt",
            KeyId=self._key_id,
            Plaintext=secret.get_secret_value().encode("utf-8"),
            EncryptionContext={"executionId": execution_id},
        )
        ciphertext: bytes = response["CiphertextBlob"]
        return ciphertext

    def unseal(self, execution_id: str, ciphertext: bytes) -> SecretStr:
        """For the webhook sender: fails unless the ciphertext was sealed for this execution."""
        response = call(
            self._client,
            "decrypt",
            KeyId=self._key_id,
            CiphertextBlob=ciphertext,
            EncryptionContext={"executionId": execution_id},
        )
        return SecretStr(response["Plaintext"].decode("utf-8"))
