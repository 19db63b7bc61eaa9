"""Which API key a provider job uses (issue 22 point 4), in order: the model-level params.apiKey, the
execution's options.providerApiKeys, the tenant's stored key (PUT /api/provider-keys/{provider}), then the
deployment's secret (a Secrets Manager secret per provider). Tenant keys are sealed with KMS under the
tenant's and provider's context: a ciphertext copied to another tenant or provider does not open."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from execution_api.core.aws_errors import call
from execution_api.core.clock import iso_seconds

# Under make run (LOCAL_PROVIDERS) the deployment's key of a provider may come from the shell that started
# it, in the variable each provider's own SDK reads; deployed, only Secrets Manager is read.
ENV_NAMES = {"replicate": "REPLICATE_API_TOKEN", "fal": "FAL_KEY", "elevenlabs": "ELEVENLABS_API_KEY"}


def environment_key(provider: str, environ: Mapping[str, str]) -> str | None:
    """The provider's key from its usual environment variable (make run), if set."""
    value = environ.get(ENV_NAMES.get(provider, ""), "").strip()
    return value or None


def choose_key(
    provider: str,
    params: Mapping[str, Any],
    provider_api_keys: Mapping[str, str],
    tenant_key: Callable[[], str | None],
    deployment_key: Callable[[], str | None],
) -> str | None:
    """The first key given, in the documented order; the later sources are only read when needed."""
    for candidate in (params.get("apiKey"), provider_api_keys.get(provider)):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return tenant_key() or deployment_key() or None


def missing_key_message(provider: str) -> str:
    return (
        f"{provider} needs an API key: give it as params.apiKey, options.providerApiKeys.{provider}, "
        f"store one with PUT /api/provider-keys/{provider}, "
        f"or ask the operator to set the deployment's {provider} secret"
    )


def last_four(key: str) -> str:
    return key[-4:] if len(key) > 8 else ""  # a short key would be half shown: show nothing


class ProviderKeyCipher:
    """KMS seal and open of a tenant's provider key, bound to (tenant, provider) by the encryption context."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms, self._key_id = kms, key_id

    def seal(self, tenant_id: str, provider: str, key: SecretStr) -> bytes:
        answer = call(
            self._kms,
            "encrypt",
            KeyId=self._key_id,
            Plaintext=key.get_secret_value().encode("utf-8"),
            EncryptionContext={"tenantId": tenant_id, "provider": provider},
        )
        sealed: bytes = answer["CiphertextBlob"]
        return sealed

    def open(self, tenant_id: str, provider: str, sealed: bytes) -> SecretStr:
        answer = call(
            self._kms,
            "decrypt",
            KeyId=self._key_id,
            CiphertextBlob=sealed,
            EncryptionContext={"tenantId": tenant_id, "provider": provider},
        )
        return SecretStr(answer["Plaintext"].decode("utf-8"))


@dataclass(frozen=True)
class StoredKey:
    sealed: bytes
    last4: str
    updated_at: str


class ProviderKeyStore:
    """A tenant's provider keys in the executions table, one item per provider, ciphertext only."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client, self._table = client, table_name

    @staticmethod
    def _key(tenant_id: str, provider: str) -> dict[str, Any]:
        return {"pk": {"S": f"TENANT#{tenant_id}#PROVIDERKEYS"}, "sk": {"S": f"PROVIDERKEY#{provider}"}}

    def put(self, tenant_id: str, provider: str, sealed: bytes, last4: str) -> StoredKey:
        """Store (or replace) the key, stamped now as ApiKeyStore stamps its keys; returns what was stored."""
        stored = StoredKey(sealed, last4, iso_seconds(datetime.now(UTC)))
        self._client.put_item(TableName=self._table, Item=self._key(tenant_id, provider) | _key_attributes(stored))
        return stored

    def get(self, tenant_id: str, provider: str) -> StoredKey | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(tenant_id, provider)).get("Item")
        return _stored_key(item) if item else None

    def delete(self, tenant_id: str, provider: str) -> bool:
        answer = self._client.delete_item(
            TableName=self._table, Key=self._key(tenant_id, provider), ReturnValues="ALL_OLD"
        )
        return bool(answer.get("Attributes"))


def _key_attributes(stored: StoredKey) -> dict[str, Any]:
    """A provider key's item besides its key: the ciphertext only, never the key (docs/data-model.md)."""
    return {"sealed": {"B": stored.sealed}, "last4": {"S": stored.last4}, "updatedAt": {"S": stored.updated_at}}


def _stored_key(item: dict[str, Any]) -> StoredKey:
    return StoredKey(bytes(item["sealed"]["B"]), item["last4"]["S"], item["updatedAt"]["S"])
