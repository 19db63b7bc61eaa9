"""What the provider worker, the callback route and the poller read (docs/configuration.md, docs/providers.md)."""

from __future__ import annotations

from pydantic import Field, field_validator

from execution_api.engine.media_executor import MediaSettings
from execution_api.providers import elevenlabs, fal, replicate
from execution_api.settings import _pairs

DEFAULT_FAL_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"


class ProviderSettings(MediaSettings):
    """Base URLs per provider (tests and make run point them at local fakes, an enterprise at a proxy), where
    callbacks reach this API, and the deployment's own keys (Secrets Manager secret ARNs, optional)."""

    executions_table_name: str = Field(alias="EXECUTIONS_TABLE_NAME", min_length=1)
    replicate_api_url: str = Field(default=replicate.DEFAULT_BASE_URL, alias="REPLICATE_API_URL")
    fal_queue_url: str = Field(default=fal.DEFAULT_BASE_URL, alias="FAL_QUEUE_URL")
    fal_jwks_url: str = Field(default=DEFAULT_FAL_JWKS_URL, alias="FAL_JWKS_URL")
    elevenlabs_api_url: str = Field(default=elevenlabs.DEFAULT_BASE_URL, alias="ELEVENLABS_API_URL")
    # The API's public base URL (https://.../prod); empty: no callbacks, the poller finds every result (make run).
    provider_callback_base_url: str = Field(default="", alias="PROVIDER_CALLBACK_BASE_URL")
    replicate_key_secret_arn: str = Field(default="", alias="REPLICATE_KEY_SECRET_ARN")
    fal_key_secret_arn: str = Field(default="", alias="FAL_KEY_SECRET_ARN")
    elevenlabs_key_secret_arn: str = Field(default="", alias="ELEVENLABS_KEY_SECRET_ARN")
    provider_poll_seconds: int = Field(default=60, alias="PROVIDER_POLL_SECONDS", ge=1)
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

    def secret_arn(self, provider: str) -> str:
        return {"replicate": self.replicate_key_secret_arn, "fal": self.fal_key_secret_arn,
                "elevenlabs": self.elevenlabs_key_secret_arn}[provider]  # fmt: skip

    def callback_url(self, provider: str, ref: str) -> str | None:
        base = self.provider_callback_base_url.rstrip("/")
        return f"{base}/api/providers/{provider}/callbacks/{ref}" if base else None
