"""Executors run one job for the worker. Real provider executors plug in by implementing `Executor`;
this module ships `simulated`, which runs any operation without a provider (docs/engine.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from execution_api.core import exact_json

OUTPUT_BASE_URL = "https://outputs.execution-api.invalid"  # .invalid is reserved (RFC 2606): never resolves
MAX_SIMULATED_MS = 900_000  # simulate.ms at most 15 minutes, Lambda's longest run: a worker could not wait longer


@dataclass(frozen=True)
class JobRequest:
    execution_id: str
    job_id: str
    operation: str
    params: dict[str, Any]  # dependency references already resolved to urls, sealed credentials opened
    attempt: int = 1
    provider_api_keys: dict[str, str] = field(default_factory=dict)  # options.providerApiKeys, opened
    tenant_id: str = ""  # outputs are stored under the tenant (execution_api.storage.outputs)
    dependency_urls: tuple[str, ...] = ()  # each dependency's main output, in dependsOn order
    task_token: str = ""  # for executors that answer later (a provider's callback): seal it, never log it


class JobFailed(Exception):
    """The job cannot complete. `retryable` lets Step Functions try again (up to JOB_MAX_ATTEMPTS)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class JobDeferred(Exception):
    """The executor handed the job on (a provider prediction with a callback): the task token is answered
    later by whatever settles it (execution_api.providers), not by this worker."""


class Executor(Protocol):
    def run(self, job: JobRequest, heartbeat: Callable[[], None]) -> dict[str, Any]:
        """Run the job; call `heartbeat` at least every heartbeatSeconds during long work. Returns the job's
        result, {"status": "completed", "outputs": [{"type", "url", "mimeType"}], "metadata": {...}}, or
        raises JobFailed."""
        ...


# Output kind by words in the operation name; anything else makes a video (what most operations make).
_KINDS = (
    (("image", "thumbnail", "picture", "photo"), ("image", "png", "image/png")),
    (("audio", "speech", "voice", "music", "sound", "tts"), ("audio", "mp3", "audio/mpeg")),
    (("transcri", "caption", "text"), ("text", "txt", "text/plain")),
)
_VIDEO = ("video", "mp4", "video/mp4")


def output_kind(operation: str) -> tuple[str, str, str]:
    """(type, file extension, mime type) for an operation's output."""
    lowered = operation.lower()
    for words, kind in _KINDS:
        if any(word in lowered for word in words):
            return kind
    return _VIDEO


@dataclass
class SimulatedExecutor:
    """Completes every job after `default_ms` (SIMULATED_JOB_MS) with a deterministic url on the .invalid
    domain. params.simulate steers one job: {"ms": 50} (at most MAX_SIMULATED_MS), {"failWith": "message"}
    (add "retryable": true to let Step Functions retry it; a reason that is not a string is written as
    JSON), {"failAttempts": 2} (retryable failures on the first two attempts; a whole number, not true)."""

    default_ms: int = 500
    slice_s: float = 0.25  # the heartbeat callback is offered this often; the worker decides when to send
    sleep: Callable[[float], None] = field(default=time.sleep)

    def run(self, job: JobRequest, heartbeat: Callable[[], None]) -> dict[str, Any]:
        simulate = job.params.get("simulate")
        steer: dict[str, Any] = simulate if isinstance(simulate, dict) else {}
        ms = steer.get("ms", self.default_ms)
        ms = ms if _whole(ms) and ms >= 0 else self.default_ms
        if ms > MAX_SIMULATED_MS:  # would outlive any worker: fail in words at once, never retried
            raise JobFailed(f"simulate.ms is {ms}; at most {MAX_SIMULATED_MS} (15 minutes) can be simulated")
        self._wait(ms / 1000, heartbeat)
        fail_attempts = steer.get("failAttempts")
        if isinstance(fail_attempts, int) and _whole(fail_attempts) and job.attempt <= fail_attempts:
            raise JobFailed(f"simulated failure on attempt {job.attempt}", retryable=True)
        if "failWith" in steer:
            reason = steer["failWith"]
            raise JobFailed(
                reason if isinstance(reason, str) else exact_json.dumps(reason),
                retryable=steer.get("retryable") is True,
            )
        kind, extension, mime_type = output_kind(job.operation)
        url = f"{OUTPUT_BASE_URL}/{quote(job.execution_id, safe='')}/{quote(job.job_id, safe='')}.{extension}"
        return {
            "status": "completed",
            "outputs": [{"type": kind, "url": url, "mimeType": mime_type}],
            "metadata": {"executor": "simulated", "operation": job.operation, "attempt": job.attempt, "ms": ms},
        }

    def _wait(self, seconds: float, heartbeat: Callable[[], None]) -> None:
        """Sleep in slices, with a heartbeat between them, as a long real job would."""
        while seconds > 0:
            step = min(seconds, self.slice_s)
            self.sleep(step)
            seconds -= step
            if seconds > 0:
                heartbeat()


def _whole(value: Any) -> bool:
    """A JSON whole number: `true` is not 1 here, though Python's bool is an int."""
    return isinstance(value, int) and not isinstance(value, bool)
