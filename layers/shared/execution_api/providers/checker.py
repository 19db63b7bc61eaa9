"""Settling a prediction: read it from its provider, copy its outputs into the OutputsBucket, and answer the
job's task token. The work queue carries `{"prediction": ref}` messages, sent by the callback route (once the
provider's signature is verified) and by the poller (for callbacks that never came, and make run). The
provider's answer is read again here rather than trusted from a callback body.

Applied once: only the holder of the record's lease settles it, and a settled record is never touched again.
A running prediction gets a heartbeat on its task; a cancelled job's prediction is cancelled at the provider."""

from __future__ import annotations

import json
import pathlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from execution_api.engine.executors import JobFailed
from execution_api.engine.step_functions import StepFunctions
from execution_api.media_inputs import InputFetcher, InputRefused, InputUnavailable
from execution_api.observability import logger
from execution_api.outputs import output_key, reference
from execution_api.providers.prediction import Prediction, PredictionClient
from execution_api.providers.settings import ProviderSettings
from execution_api.providers.store import PredictionRecord, PredictionStore
from execution_api.repository import execution_pk
from execution_api.webhook_secrets import WebhookSecretCipher

FAILED = "Job.Failed"
RETRYABLE = "Job.Retryable"
LEASE_SECONDS = 900  # one copy of a provider's outputs, at most a worker's timeout
_MIME = {"video": "video/mp4", "image": "image/png", "audio": "audio/mpeg"}
_EXTENSIONS = {"video/mp4": "mp4", "video/webm": "webm", "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
               "audio/mpeg": "mp3", "audio/wav": "wav"}  # fmt: skip


@dataclass
class PredictionChecker:
    settings: ProviderSettings
    predictions: PredictionStore
    cipher: WebhookSecretCipher
    stepfunctions: StepFunctions
    s3: Any
    job_status: Callable[[str, str], str | None]  # (execution pk, job id) -> the job's status
    clients: Callable[[str, str], PredictionClient]  # (provider, key) -> its client

    def check(self, ref: str) -> str:
        """What happened (for logs and tests): settled, running, cancelled, already settled, gone."""
        record = self.predictions.get(ref)
        if record is None or record.state == "settled":
            return "already settled" if record else "gone"
        secrets = json.loads(self.cipher.unseal(record.execution_id, record.sealed).get_secret_value())
        token, client = secrets["taskToken"], self.clients(record.provider, secrets["apiKey"])
        if self.job_status(execution_pk(record.tenant_id, record.execution_id), record.job_id) == "cancelled":
            return self._cancel(record, client)
        try:
            prediction = client.read(record.handle)
        except JobFailed as failure:
            if failure.retryable:
                self.predictions.check_later(ref, self.settings.provider_poll_seconds)
                return "provider unavailable"
            prediction = Prediction(record.handle["id"], "failed", error=failure.message)
        if prediction.state == "running":
            if not self.stepfunctions.heartbeat(token):  # the run timed out or stopped: stop spending credit
                return self._cancel(record, client)
            self.predictions.check_later(ref, self.settings.provider_poll_seconds)
            return "running"
        if not self.predictions.take(ref, LEASE_SECONDS):
            return "already settled"
        return self._settle(record, prediction, token)

    def _cancel(self, record: PredictionRecord, client: PredictionClient) -> str:
        try:
            client.cancel(record.handle)
        except JobFailed as failure:
            if failure.retryable:  # try again on the next poll
                self.predictions.check_later(record.ref, self.settings.provider_poll_seconds)
                return "cancel pending"
        self.predictions.settled(record.ref, "cancelled")
        return "cancelled"

    def _settle(self, record: PredictionRecord, prediction: Prediction, token: str) -> str:
        name = f"{record.provider} prediction {prediction.id}"
        if prediction.state == "succeeded":
            try:
                result = self._copy(record, prediction)
            except JobFailed as failure:
                if failure.retryable:
                    self.predictions.release(record.ref, self.settings.provider_poll_seconds)
                    return "copy retried later"
                self.stepfunctions.fail(token, FAILED, failure.message)
                self.predictions.settled(record.ref, "failed")
                return "failed"
            self.stepfunctions.succeed(token, result)
            self.predictions.settled(record.ref, "succeeded")
            return "succeeded"
        reason = "was cancelled at the provider" if prediction.state == "canceled" else "failed"
        message = f"{name} {reason}" + (f": {prediction.error}" if prediction.error else "")
        self.stepfunctions.fail(token, FAILED, message)
        self.predictions.settled(record.ref, prediction.state)
        return prediction.state

    def _copy(self, record: PredictionRecord, prediction: Prediction) -> dict[str, Any]:
        """Every output into the bucket before the job completes (Replicate deletes API outputs after an hour)."""
        kind = record.handle.get("output", "video")
        bucket = self.settings.outputs_bucket_name
        metadata = {"provider": record.provider, "modelId": record.handle.get("modelId"), "predictionId": prediction.id}
        if kind == "transcript":
            if not prediction.words:
                raise JobFailed(f"{record.provider} prediction {prediction.id} produced no words")
            body = json.dumps(list(prediction.words)).encode("utf-8")
            key = output_key(record.tenant_id, record.execution_id, record.job_id, "json")
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
            output = {"type": "text", "url": reference(bucket, key), "mimeType": "application/json", "bytes": len(body)}
            return {
                "status": "completed",
                "outputs": [output],
                "metadata": metadata | {"wordCount": len(prediction.words)},
            }
        if not prediction.outputs:
            raise JobFailed(f"{record.provider} prediction {prediction.id} succeeded without an output")
        fetcher = InputFetcher(self.s3, bucket, record.tenant_id, self.settings.input_limits())
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="provider-output-"))
        try:
            outputs = [self._store(record, fetcher, workdir, kind, o.url, o.mime_type) for o in prediction.outputs]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return {"status": "completed", "outputs": outputs, "metadata": metadata}

    def _store(
        self,
        record: PredictionRecord,
        fetcher: InputFetcher,
        workdir: pathlib.Path,
        kind: str,
        url: str,
        mime: str | None,
    ) -> dict[str, Any]:
        try:
            path = fetcher(url, workdir)
        except InputRefused as refused:
            raise JobFailed(f"the output of the {record.provider} prediction cannot be copied: {refused}") from None
        except InputUnavailable as unavailable:
            raise JobFailed(f"the output of the {record.provider} prediction: {unavailable}", retryable=True) from None
        mime_type = mime or _MIME.get(kind, "application/octet-stream")
        key = output_key(record.tenant_id, record.execution_id, record.job_id, _EXTENSIONS.get(mime_type, "bin"))
        self.s3.upload_file(str(path), self.settings.outputs_bucket_name, key, ExtraArgs={"ContentType": mime_type})
        logger.info("provider output copied", extra={"bytes": path.stat().st_size, "provider": record.provider})
        output = {"type": kind, "url": reference(self.settings.outputs_bucket_name, key), "mimeType": mime_type}
        return output | {"bytes": path.stat().st_size}
