"""The media executor: the glue between execution_api.media (ffmpeg, the local provider) and the OutputsBucket
(engine/selection.py chooses it per job).

execution_api.media is imported on first use only: the work-queue worker, which has no media layer,
never needs it, and the API functions never import this module."""

from __future__ import annotations

import importlib
import mimetypes
import pathlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from execution_api.core.container import per_container
from execution_api.core.disk_space import disk_full_message, is_disk_full
from execution_api.core.settings import OutputSettings, load_settings
from execution_api.engine.executors import JobFailed, JobRequest
from execution_api.engine.fetch import InputFetcher, InputLimits, InputRefused, InputUnavailable
from execution_api.engine.params import float_numbers
from execution_api.engine.workdirs import job_workdir
from execution_api.storage.outputs import output_key, reference

RunOperation = Callable[..., tuple[Sequence[Any], Mapping[str, Any]]]


class MediaSettings(OutputSettings):
    """What the media executor reads besides the bucket: the bounds on each input (docs/configuration.md)."""

    max_input_bytes: int = Field(default=2 * 1024**3, alias="MAX_INPUT_BYTES", ge=1)
    input_timeout_seconds: float = Field(default=300, alias="INPUT_TIMEOUT_SECONDS", gt=0, le=900)
    # http and loopback hosts, for local fakes only; the refused ranges stay refused (as ALLOW_INSECURE_WEBHOOKS).
    allow_insecure_inputs: bool = Field(default=False, alias="ALLOW_INSECURE_INPUTS")

    def input_limits(self) -> InputLimits:
        return InputLimits(self.max_input_bytes, self.input_timeout_seconds, self.allow_insecure_inputs)


@dataclass
class MediaExecutor:
    """Runs a media operation (or a local-provider generation) in a temporary directory removed whatever
    happens, uploads each output to the bucket and returns the result with stable references."""

    s3: Any
    settings: MediaSettings
    run_operation: RunOperation | None = None  # execution_api.media.run_operation unless a test gives one
    resolver: Callable[[str, int], Any] | None = None  # DNS, for tests of the address rules
    temp_root: pathlib.Path | None = None  # where work directories go (the temp dir unless a test gives one)

    def run(self, job: JobRequest, heartbeat: Callable[[], None]) -> dict[str, Any]:
        run_operation, media_error, time_left = self._media()
        fetcher = InputFetcher(
            self.s3,
            self.settings.outputs_bucket_name,
            job.tenant_id,
            self.settings.input_limits(),
            heartbeat=heartbeat,
            time_left=time_left,
            **({"resolver": self.resolver} if self.resolver else {}),
        )

        def fetch(url: str, directory: pathlib.Path) -> pathlib.Path:
            try:
                return fetcher(url, directory)
            except InputRefused as refused:
                raise media_error(str(refused)) from None
            except InputUnavailable as unavailable:
                raise JobFailed(str(unavailable), retryable=True) from None

        try:
            with job_workdir(self.temp_root) as workdir:
                outputs, metadata = run_operation(
                    job.operation, float_numbers(job.params), list(job.dependency_urls), workdir, fetch, heartbeat
                )
                stored = [self._store(job, output, workdir) for output in outputs]
        except media_error as error:
            raise JobFailed(str(error)) from None
        except OSError as error:  # a file the operation wrote itself (a subtitle script, a frame) on a full disk
            if is_disk_full(error):
                raise JobFailed(disk_full_message(self.temp_root or pathlib.Path(tempfile.gettempdir()))) from None
            raise
        return {"status": "completed", "outputs": stored, "metadata": dict(metadata)}

    def _store(self, job: JobRequest, output: Any, workdir: pathlib.Path) -> dict[str, Any]:
        path = pathlib.Path(output.path).resolve()
        if not path.is_relative_to(workdir.resolve()) or not path.is_file():
            raise RuntimeError("the media operation returned an output outside its work directory")
        extension = path.suffix.lstrip(".") or (mimetypes.guess_extension(output.mime_type) or "").lstrip(".")
        key = output_key(job.tenant_id, job.execution_id, job.job_id, extension)
        self.s3.upload_file(
            str(path), self.settings.outputs_bucket_name, key, ExtraArgs={"ContentType": output.mime_type}
        )
        stored: dict[str, Any] = {
            "type": output.type,
            "url": reference(self.settings.outputs_bucket_name, key),
            "mimeType": output.mime_type,
            "bytes": path.stat().st_size,
        }
        for name, value in (
            ("durationSeconds", output.duration_seconds),
            ("width", output.width),
            ("height", output.height),
        ):
            if value is not None:
                stored[name] = value
        return stored

    def _media(self) -> tuple[RunOperation, type[Exception], Callable[[], float | None]]:
        media = importlib.import_module("execution_api.media")  # the media layer: only a media worker gets here
        return self.run_operation or media.run_operation, media.MediaError, media.job_time_left


@per_container
def media_executor() -> MediaExecutor:
    from execution_api.core.aws_clients import s3_transfer_client

    return MediaExecutor(s3_transfer_client(), load_settings(MediaSettings))
