"""What the provider worker, the callback route and the poller read (docs/configuration.md, docs/providers.md)."""

from __future__ import annotations

from pydantic import Field, field_validator

from execution_api.core.settings import EnvironmentSettings, _pairs
from execution_api.engine.media_executor import MediaSettings
from execution_api.providers import elevenlabs, fal, replicate

DEFAULT_FAL_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"


class PredictionSettings(EnvironmentSettings):
    """What every function that handles predictions reads: the callback route and the poller read only these."""

    executions_table_name: str = Field(alias="EXECUTIONS_TABLE_NAME", min_length=1)
    # Seals each prediction's task token and key under its execution's context (the worker opens them).
    credential_key_id: str = Field(alias="CREDENTIAL_KEY_ID", min_length=1)
    work_queue_url: str = Field(default="", alias="WORK_QUEUE_URL")  # where `{"prediction": ref}` goes
    fal_jwks_url: str = Field(default=DEFAULT_FAL_JWKS_URL, alias="FAL_JWKS_URL")
    provider_poll_seconds: int = Field(default=60, alias="PROVIDER_POLL_SECONDS", ge=1)


class ProviderSettings(MediaSettings, PredictionSettings):
    """Base URLs per provider (tests and make run point them at local fakes, an enterprise at a proxy), where
    callbacks reach this API, and where the deployment's own keys are (Secrets Manager, optional)."""

    replicate_api_url: str = Field(default=replicate.DEFAULT_BASE_URL, alias="REPLICATE_API_URL")
    fal_queue_url: str = Field(default=fal.DEFAULT_BASE_URL, alias="FAL_QUEUE_URL")
    elevenlabs_api_url: str = Field(default=elevenlabs.DEFAULT_BASE_URL, alias="ELEVENLABS_API_URL")
    # The API's public base URL (https://.../prod); empty: no callbacks, the poller finds every result (make run).
    provider_callback_base_url: str = Field(default="", alias="PROVIDER_CALLBACK_BASE_URL")
    # The deployment's own keys: Secrets Manager secrets <prefix><provider>, where they exist. An empty prefix
    # means <stack name>/providers/: two stacks in one account never read each other's keys.
    provider_key_secret_prefix: str = Field(default="", alias="PROVIDER_KEY_SECRET_PREFIX")
    stack_name: str = Field(default="", alias="STACK_NAME")
    default_models: dict[str, str] = Field(default_factory=dict, alias="DEFAULT_MODELS")
    local_providers: bool = Field(default=False, alias="LOCAL_PROVIDERS")
    # Under make run a job with no key runs on the local provider; false makes it fail as deployed.
    local_stand_ins: bool = Field(default=True, alias="LOCAL_STAND_INS")

    _split_models = field_validator("default_models", mode="before")(_pairs)

    def base_url(self, provider: str) -> str:
        url = {"replicate": self.replicate_api_url, "fal": self.fal_queue_url, "elevenlabs": self.elevenlabs_api_url}
        return url[provider].rstrip("/")

    def base_url_overridden(self, provider: str) -> bool:
        defaults = {"replicate": replicate.DEFAULT_BASE_URL, "fal": fal.DEFAULT_BASE_URL,
                    "elevenlabs": elevenlabs.DEFAULT_BASE_URL}  # fmt: skip
        return self.base_url(provider) != defaults[provider]

    def secret_name(self, provider: str) -> str | None:
        prefix = self.provider_key_secret_prefix or (f"{self.stack_name}/providers/" if self.stack_name else "")
        return f"{prefix}{provider}" if prefix else None

    def callback_url(self, provider: str, ref: str) -> str | None:
        base = self.provider_callback_base_url.rstrip("/")
        return f"{base}/api/providers/{provider}/callbacks/{ref}" if base else None
