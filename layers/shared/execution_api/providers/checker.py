"""Settling a prediction: read it from its provider, copy its outputs into the OutputsBucket, and answer the
job's task token. The work queue carries `{"prediction": ref}` messages, sent by the callback route (once the
provider's signature is verified) and by the poller (for callbacks that never came, and make run). The
provider's answer is read again here rather than trusted from a callback body.

Applied once: only the holder of the record's lease settles it, and a settled record is never touched again.
Every check of an unsettled prediction heartbeats its task, and so does a long copy of its outputs (a lapsed
heartbeat would have Step Functions retry the job). A cancelled job's prediction is cancelled at the provider.
An unexpected error is counted on the record and looked at again later; after MAX_CHECK_ERRORS it fails the job.

A failure's text (the provider's error, which may echo its input) is scrubbed, as the worker scrubs its own, of
every credential value opened for the job: the execution's sealed credentials are opened again here (the
worker's own KMS rule, under the execution's context) rather than copied onto the prediction record."""

from __future__ import annotations

import json
import pathlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from execution_api.core.credentials import credential_values, open_credentials, scrub
from execution_api.core.observability import logger
from execution_api.core.sealing import CredentialCipher
from execution_api.engine.executors import JobFailed
from execution_api.engine.fetch import InputFetcher, InputRefused, InputUnavailable
from execution_api.engine.messages import JOB_FAILED
from execution_api.engine.step_functions import StepFunctions
from execution_api.engine.workdirs import job_workdir
from execution_api.providers.prediction import Prediction, PredictionClient, ProviderOutput, sniffed_mime_type
from execution_api.providers.settings import ProviderSettings
from execution_api.storage.jobs import JobStore
from execution_api.storage.keys import execution_pk
from execution_api.storage.outputs import output_key, reference
from execution_api.storage.predictions import PredictionRecord, PredictionStore

# Shorter than the task's heartbeat timeout (JobHeartbeatSeconds: 300 by default, at least 180): a crashed
# checker's lease ends while the task still waits. The holder renews it with each heartbeat during a long copy.
LEASE_SECONDS = 120
HEARTBEAT_EVERY_SECONDS = 30.0
MAX_CHECK_ERRORS = 5
_MIME = {"video": "video/mp4", "image": "image/png", "audio": "audio/mpeg"}
_EXTENSIONS = {"video/mp4": "mp4", "video/webm": "webm", "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
               "audio/mpeg": "mp3", "audio/wav": "wav"}  # fmt: skip


@dataclass
class PredictionChecker:
    settings: ProviderSettings
    predictions: PredictionStore
    cipher: CredentialCipher
    stepfunctions: StepFunctions
    s3: Any
    job_status: Callable[[str, str], str | None]  # (execution pk, job id) -> the job's status
    clients: Callable[[str, str], PredictionClient]  # (provider, key) -> its client
    job_credentials: Callable[[PredictionRecord], list[Any]]  # what the worker opened for the job (see below)
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def check(self, ref: str) -> str:
        """What happened (for logs and tests): settled, running, cancelled, already settled, gone, error."""
        record = self.predictions.get(ref)
        if record is None or record.state == "settled":
            return "already settled" if record else "gone"
        lease_id = secrets.token_hex(8)
        try:
            return self._check(record, lease_id)
        except Exception:  # a bug or an AWS error: not left to the queue's visibility timeout and its DLQ
            logger.exception("prediction check failed", extra={"provider": record.provider})
            return self._after_error(record, lease_id)

    def _after_error(self, record: PredictionRecord, lease_id: str) -> str:
        errors = self.predictions.count_error(record.ref, self.settings.provider_poll_seconds, lease_id)
        if errors < MAX_CHECK_ERRORS:
            return "error, checked again later"
        message = (
            f"the {record.provider} prediction {record.handle.get('id', '')} could not be settled: "
            f"an internal error repeated {errors} times"
        )
        try:
            self.stepfunctions.fail(self._secrets(record)["taskToken"], JOB_FAILED, message)
        finally:  # even when the task cannot be answered: its own timeout ends it; the record stops here
            self.predictions.settled(record.ref, "failed")
        return "failed"

    def _secrets(self, record: PredictionRecord) -> dict[str, str]:
        opened: dict[str, str] = json.loads(self.cipher.unseal(record.execution_id, record.sealed).get_secret_value())
        return opened

    def _check(self, record: PredictionRecord, lease_id: str) -> str:
        ref, opened = record.ref, self._secrets(record)
        token, client = opened["taskToken"], self.clients(record.provider, opened["apiKey"])
        if self.job_status(execution_pk(record.tenant_id, record.execution_id), record.job_id) == "cancelled":
            return self._cancel(record, client)
        keeper = _Keeper(self, ref, token, lease_id)
        if not keeper.beat(force=True):  # the run timed out or stopped: stop spending credit
            return self._cancel(record, client)
        try:
            prediction = client.read(record.handle)
        except JobFailed as failure:
            if failure.retryable:
                self.predictions.check_later(ref, self.settings.provider_poll_seconds)
                return "provider unavailable"
            prediction = Prediction(record.handle["id"], "failed", error=failure.message)
        if prediction.state == "running":
            self.predictions.check_later(ref, self.settings.provider_poll_seconds)
            return "running"
        if not self.predictions.take(ref, LEASE_SECONDS, lease_id):
            return "already settled"
        keeper.holds_lease = True
        current = self.predictions.get(ref)  # a retried attempt may have resealed it with its own task token
        if current is not None:
            keeper.token = self._secrets(current)["taskToken"]
        return self._settle(record, prediction, keeper)

    def _cancel(self, record: PredictionRecord, client: PredictionClient) -> str:
        try:
            client.cancel(record.handle)
        except JobFailed as failure:
            if failure.retryable:  # try again on the next poll
                self.predictions.check_later(record.ref, self.settings.provider_poll_seconds)
                return "cancel pending"
        self.predictions.settled(record.ref, "cancelled")
        return "cancelled"

    def _settle(self, record: PredictionRecord, prediction: Prediction, keeper: _Keeper) -> str:
        name, token = f"{record.provider} prediction {prediction.id}", keeper.token
        if prediction.state == "succeeded":
            try:
                result = self._copy(record, prediction, keeper.tick)
            except JobFailed as failure:
                if failure.retryable:
                    self.predictions.release(record.ref, self.settings.provider_poll_seconds)
                    return "copy retried later"
                self._fail(record, token, failure.message)
                self.predictions.settled(record.ref, "failed")
                return "failed"
            self.stepfunctions.succeed(token, result)
            self.predictions.settled(record.ref, "succeeded")
            return "succeeded"
        reason = "was cancelled at the provider" if prediction.state == "canceled" else "failed"
        message = f"{name} {reason}" + (f": {prediction.error}" if prediction.error else "")
        self._fail(record, token, message)
        self.predictions.settled(record.ref, prediction.state)
        return prediction.state

    def _fail(self, record: PredictionRecord, token: str, message: str) -> None:
        """Fails the job's task with `message` scrubbed of its key and of every credential opened for the job."""
        opened = [self._secrets(record)["apiKey"], *self.job_credentials(record)]
        self.stepfunctions.fail(token, JOB_FAILED, scrub(message, opened)[:32_000])

    def _copy(self, record: PredictionRecord, prediction: Prediction, beat: Callable[[], None]) -> dict[str, Any]:
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
        fetcher = InputFetcher(self.s3, bucket, record.tenant_id, self.settings.input_limits(), heartbeat=beat)
        # a work directory swept by the next job when a timeout killed this one mid-copy (/tmp outlives it)
        with job_workdir() as workdir:
            outputs = [self._store(record, fetcher, workdir, kind, o, beat) for o in prediction.outputs]
        return {"status": "completed", "outputs": outputs, "metadata": metadata}

    def _store(
        self,
        record: PredictionRecord,
        fetcher: InputFetcher,
        workdir: pathlib.Path,
        kind: str,
        provided: ProviderOutput,
        beat: Callable[[], None],
    ) -> dict[str, Any]:
        try:
            path = fetcher(provided.url, workdir)
        except InputRefused as refused:
            raise JobFailed(f"the output of the {record.provider} prediction cannot be copied: {refused}") from None
        except InputUnavailable as unavailable:
            raise JobFailed(f"the output of the {record.provider} prediction: {unavailable}", retryable=True) from None
        with path.open("rb") as file:  # a JPEG named by no content type is stored as a JPEG, not a .png
            sniffed = sniffed_mime_type(file.read(16))
        mime_type = provided.mime_type or sniffed or _MIME.get(kind, "application/octet-stream")
        key = output_key(record.tenant_id, record.execution_id, record.job_id, _EXTENSIONS.get(mime_type, "bin"))
        self.s3.upload_file(
            str(path), self.settings.outputs_bucket_name, key, ExtraArgs={"ContentType": mime_type},
            Callback=lambda _sent: beat(),
        )  # fmt: skip
        size = path.stat().st_size
        path.unlink()  # one output on disk at a time: the worker's storage holds one copy of MaxInputBytes
        logger.info("provider output copied", extra={"bytes": size, "provider": record.provider})
        url = reference(self.settings.outputs_bucket_name, key)
        output: dict[str, Any] = {"type": kind, "url": url, "mimeType": mime_type, "bytes": size}
        if provided.width and provided.height:  # as the provider states them (fal's images)
            output |= {"width": provided.width, "height": provided.height}
        return output


class _Keeper:
    """Keeps one check's task alive: a heartbeat at most every HEARTBEAT_EVERY_SECONDS, and the lease renewed
    with it once this check holds it (a copy of a 2 GB output outlasts both otherwise)."""

    def __init__(self, checker: PredictionChecker, ref: str, token: str, lease_id: str) -> None:
        self._checker, self._ref, self.token, self._lease_id = checker, ref, token, lease_id
        self.holds_lease = False
        self._last = float("-inf")

    def beat(self, force: bool = False) -> bool:
        """False when Step Functions no longer waits for the task."""
        now = self._checker.monotonic()
        if not force and now - self._last < HEARTBEAT_EVERY_SECONDS:
            return True
        self._last = now
        if self.holds_lease:
            self._checker.predictions.renew(self._ref, LEASE_SECONDS, self._lease_id)
        return self._checker.stepfunctions.heartbeat(self.token)

    def tick(self) -> None:
        """Offered between chunks of a download and an upload; a stopped run is seen by the next check."""
        self.beat()


def stored_job_status(jobs: JobStore) -> Callable[[str, str], str | None]:
    """A job's status as the engine stores it (what a cancel marks); None when the job has no item."""

    def status(pk: str, job_id: str) -> str | None:
        job = jobs.job(pk, job_id)
        return job.status if job else None

    return status


def job_credentials(jobs: JobStore, cipher: CredentialCipher) -> Callable[[PredictionRecord], list[Any]]:
    """The credential values the worker opened for a prediction's job: its execution's sealed credentials
    (params credentials and options.providerApiKeys), opened again; none when the plan had none."""

    def opened(record: PredictionRecord) -> list[Any]:
        execution = jobs.execution(execution_pk(record.tenant_id, record.execution_id))
        if execution is None or execution.sealed_credentials is None:
            return []
        return credential_values(open_credentials(cipher, record.execution_id, execution.sealed_credentials))

    return opened
