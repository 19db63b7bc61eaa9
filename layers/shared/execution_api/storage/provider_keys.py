"""A tenant's provider keys in the executions table, one item per provider, ciphertext only (sealed by
core.sealing.ProviderKeyCipher under the tenant's and provider's context; which key a job uses is
providers.keys'):

  pk = TENANT#<tenantId>#PROVIDERKEYS, sk = PROVIDERKEY#<provider>: sealed, last4, updatedAt
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from execution_api.core.clock import iso_seconds


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
