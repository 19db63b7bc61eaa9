"""PUT, GET and DELETE /api/provider-keys/{provider}: the tenant's own key for a provider, used when a job
gives none (docs/providers.md, "Keys"). Sealed with KMS under the tenant's and provider's context; the
table holds ciphertext and the last 4 characters, which is all GET ever shows."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from execution_api.api.resolver import check_envelope, create_app, tenant_id
from execution_api.core.aws_clients import dynamodb_client, kms_client
from execution_api.core.container import per_container
from execution_api.core.errors import MalformedRequest, ProviderKeyNotFound, ProviderNotFound
from execution_api.core.observability import logger, tracer
from execution_api.core.sealing import ProviderKeyCipher
from execution_api.core.settings import ApiSettings, load_settings
from execution_api.intake.validation import parse_body
from execution_api.models.response import PROBLEM_RESPONSES
from execution_api.providers import catalog
from execution_api.providers.keys import last_four
from execution_api.storage.provider_keys import ProviderKeyStore, StoredKey

MAX_KEY_CHARACTERS = 1024


class ProviderKeySettings(ApiSettings):
    credential_key_id: str = Field(alias="CREDENTIAL_KEY_ID", min_length=1)
    max_body_bytes: int = Field(default=1_048_576, alias="MAX_BODY_BYTES", ge=1)


# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(ProviderKeySettings)

PATH = "/api/provider-keys/<provider>"
router = Router()


class ProviderKey(BaseModel):
    """What is shown of a stored key: never the key, only its last 4 characters (none for a short key)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)
    provider: str
    last4: str = Field(description="The key's last 4 characters; empty for keys of 8 characters or fewer.")
    updated_at: str


@per_container
def _store() -> ProviderKeyStore:
    return ProviderKeyStore(dynamodb_client(), load_settings(ProviderKeySettings).executions_table_name)


def _known(provider: str) -> str:
    if provider not in catalog.providers():
        raise ProviderNotFound(f"no provider '{provider[:64]}'; the providers are: {', '.join(catalog.providers())}")
    return provider


def _shown(provider: str, stored: StoredKey) -> Response[str]:
    body = ProviderKey(provider=provider, last4=stored.last4, updated_at=stored.updated_at)
    return Response(HTTPStatus.OK.value, "application/json", body.model_dump_json(by_alias=True))


SHOWN: dict[str, Any] = {
    "description": "The stored key, shown by its last 4 characters.",
    "content": {"application/json": {"model": ProviderKey}},
}


def responses(ok: int, ok_response: dict[str, Any], *statuses: int) -> dict[int, Any]:
    return {ok: ok_response, **{status: PROBLEM_RESPONSES[status] for status in statuses}}


@router.put(
    PATH,
    summary="Store the tenant's key for a provider",
    description="Replaces any key stored before. Jobs use it when they give no key themselves (docs/providers.md).",
    responses=responses(200, SHOWN, 400, 401, 404, 413, 415, 429, 500, 503),
    tags=["provider keys"],
    operation_id="putProviderKey",
)
def put_provider_key(provider: str) -> Response[str]:
    event, settings = router.current_event, load_settings(ProviderKeySettings)
    tenant = tenant_id(event)
    _known(provider)
    check_envelope(event, settings.max_body_bytes)
    body = parse_body(event.body, bool(event.is_base64_encoded))
    key = body.get("apiKey")
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARACTERS or set(body) - {"apiKey"}:
        raise MalformedRequest(
            "invalid_provider_key", f'send {{"apiKey": "..."}}: a string of 1 to {MAX_KEY_CHARACTERS} characters'
        )
    key = key.strip()
    sealed = ProviderKeyCipher(kms_client(), settings.credential_key_id).seal(tenant, provider, SecretStr(key))
    stored = _store().put(tenant, provider, sealed, last_four(key))
    return _shown(provider, stored)


@router.get(
    PATH,
    summary="Show the tenant's key for a provider (its last 4 characters)",
    responses=responses(200, SHOWN, 401, 404, 429, 500, 503),
    tags=["provider keys"],
    operation_id="getProviderKey",
)
def get_provider_key(provider: str) -> Response[str]:
    tenant = tenant_id(router.current_event)
    stored = _store().get(tenant, _known(provider))
    if stored is None:
        raise ProviderKeyNotFound(f"no {provider} key is stored for this tenant")
    return _shown(provider, stored)


@router.delete(
    PATH,
    summary="Remove the tenant's key for a provider",
    responses=responses(204, {"description": "Removed."}, 401, 404, 429, 500, 503),
    tags=["provider keys"],
    operation_id="deleteProviderKey",
)
def delete_provider_key(provider: str) -> Response[str]:
    tenant = tenant_id(router.current_event)
    if not _store().delete(tenant, _known(provider)):
        raise ProviderKeyNotFound(f"no {provider} key is stored for this tenant")
    return Response(HTTPStatus.NO_CONTENT.value, "application/json", "")


app = create_app(methods={PATH: ("PUT", "GET", "DELETE")})
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
