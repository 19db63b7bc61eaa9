"""Which API key a provider job uses (issue 22 point 4), in order: the model-level params.apiKey, the
execution's options.providerApiKeys, the tenant's stored key (PUT /api/provider-keys/{provider}), then the
deployment's secret (a Secrets Manager secret per provider). The tenant's keys are stored by
storage.provider_keys, sealed by core.sealing.ProviderKeyCipher."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
    """What GET /api/provider-keys shows of a stored key."""
    return key[-4:] if len(key) > 8 else ""  # a short key would be half shown: show nothing
