"""The authorizer's API key store, built once per container from its settings (the store itself, and what a
key is, live in execution_api.storage.api_keys, which `make api-key` uses without the layer's dependencies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from execution_api.core.aws_clients import dynamodb_client
from execution_api.core.container import per_container
from execution_api.core.environment import load_settings, required_variable
from execution_api.storage.api_keys import ApiKeyStore


@dataclass(frozen=True)
class AuthorizerSettings:
    """The authorizer reads the API keys table's name only. Not a pydantic model like the other functions'
    settings: importing pydantic would add about 30 % to the authorizer's cold import (docs/deployment.md)."""

    api_keys_table_name: str

    @classmethod
    def from_environment(cls) -> Self:
        return cls(api_keys_table_name=required_variable(cls.__name__, "API_KEYS_TABLE_NAME"))


@per_container
def api_key_store() -> ApiKeyStore:
    """The authorizer's store, once per container."""
    return ApiKeyStore(dynamodb_client(), load_settings(AuthorizerSettings).api_keys_table_name)
