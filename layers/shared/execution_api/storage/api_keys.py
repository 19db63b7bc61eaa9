"""API keys: only their SHA-256 hashes are stored, each with the tenant it acts for.

This module needs only the standard library and botocore: `make api-key` (tools/api_keys.py) uses it with
nothing but boto3 installed. The authorizer's store, built from its settings, is in execution_api.api.authorizer.

A key is shown once when it is made (`make api-key`) and never stored or logged. The authorizer
looks a presented key up by its hash; revoking marks the record, so it stops working at once for
new authorizations (API Gateway may keep a cached Allow for up to the authorizer's TTL).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from execution_api.core.clock import iso_seconds

KEY_PREFIX = "exk_"
TENANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)  # 256 bits of randomness


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyGrant:
    """What an active key grants: its tenant, and the tenant's API Gateway key (the usage plan's
    `usageIdentifierKey`; None for keys made locally or before usage plans)."""

    tenant_id: str
    usage_key: str | None = None


class ApiKeyStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, tenant_id: str, key: str, usage_key: str | None = None) -> None:
        """Store a key's hash for a tenant; `usage_key` is the tenant's API Gateway key value, which the
        authorizer hands to API Gateway for the tenant's usage plan. It is no credential: with the API key
        source AUTHORIZER, API Gateway takes it from the authorizer only, never from a client."""
        if not TENANT_ID.fullmatch(tenant_id):
            raise ValueError("a tenant id is 1 to 64 characters of A-Z a-z 0-9 _ -")
        item = _key_item(key, tenant_id, usage_key, iso_seconds(datetime.now(UTC)))
        self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(keyHash)")

    def tenant_for(self, key: str) -> str | None:
        """The tenant of an active key, or None for an unknown or revoked one."""
        grant = self.grant_for(key)
        return grant.tenant_id if grant else None

    def grant_for(self, key: str) -> KeyGrant | None:
        """The tenant (and its usage plan key) of an active key, or None for an unknown or revoked one."""
        presented = hash_api_key(key)
        item = self._client.get_item(TableName=self._table, Key={"keyHash": {"S": presented}}, ConsistentRead=True).get(
            "Item"
        )
        stored = _stored_key(item) if item is not None else None
        if stored is None or stored.status != "active":
            return None
        # The lookup already matched the hash; compare again in constant time so no code path leaks timing.
        if not hmac.compare_digest(stored.key_hash, presented):
            return None
        return KeyGrant(tenant_id=stored.tenant_id, usage_key=stored.usage_key)

    def revoke(self, key: str) -> bool:
        """Mark a key revoked; False when no such key exists."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"keyHash": {"S": hash_api_key(key)}},
                UpdateExpression="SET #status = :revoked, revokedAt = :now",
                ConditionExpression="attribute_exists(keyHash)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":revoked": {"S": "revoked"},
                    ":now": {"S": iso_seconds(datetime.now(UTC))},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


@dataclass(frozen=True)
class _StoredKey:
    """An API key's item as the authorizer reads it."""

    key_hash: str
    tenant_id: str
    status: str  # active | revoked
    usage_key: str | None


def _key_item(key: str, tenant_id: str, usage_key: str | None, created_at: str) -> dict[str, Any]:
    """The item of a new key: its hash, never the key (docs/data-model.md, ApiKeysTable)."""
    item = {
        "keyHash": {"S": hash_api_key(key)},
        "tenantId": {"S": tenant_id},
        "status": {"S": "active"},
        "keyHint": {"S": key[: len(KEY_PREFIX) + 4]},  # enough to tell keys apart in a listing
        "createdAt": {"S": created_at},
    }
    if usage_key:
        item["usageKey"] = {"S": usage_key}
    return item


def _stored_key(item: dict[str, Any]) -> _StoredKey:
    usage_key = item.get("usageKey", {}).get("S")
    return _StoredKey(item["keyHash"]["S"], item["tenantId"]["S"], item["status"]["S"], usage_key or None)
