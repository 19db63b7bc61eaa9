"""The authorizer's API key store, built once per container from its settings (the store itself, and what a
key is, live in execution_api.api_key_store, which `make api-key` uses without the layer's dependencies)."""

from __future__ import annotations

from execution_api.api_key_store import KEY_PREFIX, TENANT_ID, ApiKeyStore, KeyGrant, hash_api_key, new_api_key
from execution_api.aws_clients import dynamodb_client
from execution_api.container import per_container
from execution_api.settings import AuthorizerSettings, load_settings

__all__ = ["KEY_PREFIX", "TENANT_ID", "ApiKeyStore", "KeyGrant", "api_key_store", "hash_api_key", "new_api_key"]


@per_container
def api_key_store() -> ApiKeyStore:
    """The authorizer's store, once per container."""
    return ApiKeyStore(dynamodb_client(), load_settings(AuthorizerSettings).api_keys_table_name)
