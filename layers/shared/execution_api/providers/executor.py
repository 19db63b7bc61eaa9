"""The provider executor: runs a generation job on Replicate, fal or ElevenLabs (docs/providers.md).

ElevenLabs answers at once: its audio is stored and the job completes. Replicate and fal run for minutes: the
prediction is submitted with a callback URL on this API, recorded (execution_api.storage.predictions) with the
task token and key sealed, and the worker returns (JobDeferred) instead of waiting. The callback route or
the poller settles it (execution_api.providers.checker)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import SecretStr

from execution_api.core.observability import logger
from execution_api.core.sealing import REPLICATE_WEBHOOK, CredentialCipher, ProviderKeyCipher
from execution_api.engine.executors import Executor, JobDeferred, JobFailed, JobRequest
from execution_api.engine.params import float_numbers
from execution_api.providers import catalog
from execution_api.providers.catalog import LOCAL, ModelProblem, Route
from execution_api.providers.elevenlabs import ElevenLabsClient
from execution_api.providers.fal import FalClient
from execution_api.providers.keys import choose_key, missing_key_message
from execution_api.providers.prediction import PredictionClient
from execution_api.providers.replicate import ReplicateClient
from execution_api.providers.settings import ProviderSettings
from execution_api.providers.transport import Transport
from execution_api.storage.keys import execution_pk
from execution_api.storage.outputs import OutputLinks, output_key, reference
from execution_api.storage.predictions import PredictionRecord, PredictionStore, new_ref
from execution_api.storage.provider_keys import ProviderKeyStore

RETENTION_SECONDS = 90 * 86_400  # a prediction record outlives its execution's items by no more than they live


def prediction_client(provider: str, transport: Transport, settings: ProviderSettings) -> PredictionClient:
    if provider == "replicate":
        return ReplicateClient(transport, settings.base_url(provider))
    if provider == "fal":
        return FalClient(transport, settings.base_url(provider))
    raise ValueError(f"{provider} runs no predictions")


@dataclass
class ProviderExecutor:
    settings: ProviderSettings
    s3: Any
    cipher: CredentialCipher  # seals the task token and key under the execution's context (KMS)
    predictions: PredictionStore
    tenant_keys: Callable[[str, str], str | None]  # (tenant, provider) -> the tenant's stored key, opened
    deployment_keys: Callable[[str], str | None]  # provider -> the deployment's secret, if any
    local: Callable[[], Executor]  # the local provider (make run): the media executor
    transport: Callable[..., Transport] = Transport
    clock: Callable[[], float] = field(default=time.time)

    def run(self, job: JobRequest, heartbeat: Callable[[], None]) -> dict[str, Any]:
        job = replace(job, params=float_numbers(job.params))
        try:
            route = catalog.route(
                job.operation, job.params, self.settings.default_models, local_providers=self.settings.local_providers
            )
        except ModelProblem as problem:  # intake refuses these; a plan accepted before a map change ends here
            raise JobFailed(problem.message) from None
        if route.provider == LOCAL:
            return self.local().run(job, heartbeat)
        key = choose_key(
            route.provider,
            job.params,
            job.provider_api_keys,
            lambda: self.tenant_keys(job.tenant_id, route.provider),
            lambda: self.deployment_keys(route.provider),
        )
        if key is None:
            if self._stands_in(route.provider):
                return self.local().run(job, heartbeat)
            raise JobFailed(missing_key_message(route.provider))
        transport = self.transport(route.provider, key, heartbeat=heartbeat)
        if route.provider == "elevenlabs":
            return self._speak(job, route, transport)
        if not self._adopt(job):
            self._submit(job, route, transport, key)
        raise JobDeferred()

    def _adopt(self, job: JobRequest) -> bool:
        """A retried attempt (after a lapsed heartbeat, say) whose job already has a prediction running takes
        that prediction over with its own task token instead of paying for a second one."""
        pending = self.predictions.pending_for_job(execution_pk(job.tenant_id, job.execution_id), job.job_id)
        if pending is None:
            return False
        opened = json.loads(self.cipher.unseal(job.execution_id, pending.sealed).get_secret_value())
        opened["taskToken"] = job.task_token
        resealed = self.cipher.seal(job.execution_id, SecretStr(json.dumps(opened)))
        if not self.predictions.reseal(pending.ref, resealed):
            return False  # settled meanwhile (its answer went to the old token): this attempt runs anew
        logger.info("retried attempt adopts its running prediction", extra={"provider": pending.provider})
        return True

    def _stands_in(self, provider: str) -> bool:
        """Under make run a job with no key runs locally, unless the provider points at a fake or proxy."""
        settings = self.settings
        return settings.local_providers and settings.local_stand_ins and not settings.base_url_overridden(provider)

    def _speak(self, job: JobRequest, route: Route, transport: Transport) -> dict[str, Any]:
        client = ElevenLabsClient(transport, self.settings.base_url("elevenlabs"))
        audio, mime_type, extension = client.speak(str(route.spec["model"]), job.params)
        bucket = self.settings.outputs_bucket_name
        key = output_key(job.tenant_id, job.execution_id, job.job_id, extension)
        self.s3.put_object(Bucket=bucket, Key=key, Body=audio, ContentType=mime_type)
        output = {"type": "audio", "url": reference(bucket, key), "mimeType": mime_type, "bytes": len(audio)}
        return {"status": "completed", "outputs": [output], "metadata": _metadata(route, None)}

    def _submit(self, job: JobRequest, route: Route, transport: Transport, key: str) -> None:
        """Seal first (no prediction without a record able to settle it), submit, then record."""
        provider_input = self._presented(
            catalog.provider_input(route.spec, job.params, job.dependency_urls), job.tenant_id
        )
        model = catalog.provider_model(route.spec, provider_input)
        ref = new_ref()
        callback_url = self.settings.callback_url(route.provider, ref)
        client = prediction_client(route.provider, transport, self.settings)
        signing_secret = (
            _signing_secret(transport, self.settings) if callback_url and route.provider == "replicate" else ""
        )
        secrets = {"taskToken": job.task_token, "apiKey": key}
        sealed = self.cipher.seal(job.execution_id, SecretStr(json.dumps(secrets)))
        # Apart, for the callback route: the one secret it may open (docs/security.md, "Credentials ...").
        sealed_signing_secret = (
            self.cipher.seal(job.execution_id, SecretStr(signing_secret), purpose=REPLICATE_WEBHOOK)
            if signing_secret
            else b""
        )
        prediction = client.submit(model, provider_input, callback_url)
        record = PredictionRecord(
            ref, job.tenant_id, job.execution_id, job.job_id, route.provider,
            {**prediction.handle, "modelId": route.model_id or "", "output": _output_kind(route)},
            sealed, "submitted", job.operation, sealed_signing_secret,
        )  # fmt: skip
        try:
            self.predictions.add(record, self.settings.provider_poll_seconds, int(self.clock()) + RETENTION_SECONDS)
        except Exception:
            client.cancel(prediction.handle)  # untracked work would spend credit nobody can see: stop it
            raise
        try:
            self.predictions.note_on_job(
                execution_pk(job.tenant_id, job.execution_id), job.job_id, route.provider, prediction.id, ref
            )
        except Exception:  # the record settles the job all the same; the note is for people reading the job
            logger.warning("could not note the prediction on its job", extra={"provider": route.provider})

    def _presented(self, provider_input: dict[str, Any], tenant_id: str) -> dict[str, Any]:
        """Our own outputs (s3:// references) become presigned GETs the provider can download; another
        tenant's reference is refused rather than passed on."""
        links = OutputLinks(lambda: self.s3, self.settings.outputs_bucket_name, self.settings.output_url_expiry_seconds)

        def present(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("s3://"):
                url = links.url(value, tenant_id)
                if url == value:
                    raise JobFailed("an input refers to an output this tenant cannot read")
                return url
            if isinstance(value, list):
                return [present(item) for item in value]
            return value

        return {name: present(value) for name, value in provider_input.items()}


def _output_kind(route: Route) -> str:
    entry = catalog.model(route.model_id or "")
    return str(entry["output"]) if entry else "video"


def _metadata(route: Route, prediction_id: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"provider": route.provider, "modelId": route.model_id}
    if prediction_id:
        found["predictionId"] = prediction_id
    return found


def _signing_secret(transport: Transport, settings: ProviderSettings) -> str:
    """Replicate signs webhooks with the account's secret (GET /webhooks/default/secret, "Verify webhooks"):
    the key's own account, so a tenant's key gets its account's secret."""
    url = f"{settings.base_url('replicate')}/webhooks/default/secret"
    body = transport.call("GET", url, {"Authorization": f"Bearer {transport.key}"}).json()
    secret = body.get("key") if isinstance(body, Mapping) else None
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise JobFailed("replicate answered without a webhook signing secret", retryable=True)
    return secret


def tenant_key_reader(store: ProviderKeyStore, cipher: ProviderKeyCipher) -> Callable[[str, str], str | None]:
    def read(tenant_id: str, provider: str) -> str | None:
        stored = store.get(tenant_id, provider)
        return cipher.unseal(tenant_id, provider, stored.sealed).get_secret_value() if stored else None

    return read
