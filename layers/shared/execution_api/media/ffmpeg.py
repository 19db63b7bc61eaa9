"""Running ffmpeg: the executable of imageio-ffmpeg, a time limit, heartbeats while it works, and its
failures turned into short sentences (never its whole stderr, never a path of the worker's disk)."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import pathlib
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence

from execution_api.core.disk_space import NO_SPACE_TEXT, disk_full_message
from execution_api.media.contract import Heartbeat, MediaError

HEARTBEAT_EVERY_S = 2.0
DEFAULT_TIMEOUT_S = 780.0  # MEDIA_FFMPEG_TIMEOUT_SECONDS: under the media worker's 900 s, with time to fetch and store
ERROR_FILE = "ffmpeg-errors.log"


@functools.cache
def ffmpeg_exe() -> str:
    """imageio-ffmpeg's static ffmpeg (its IMAGEIO_FFMPEG_EXE variable overrides, as it documents)."""
    import imageio_ffmpeg  # imported on first use: only the media worker pays for it

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def timeout_s() -> float:
    value = os.environ.get("MEDIA_FFMPEG_TIMEOUT_SECONDS", "")
    return float(value) if value.replace(".", "", 1).isdigit() and float(value) > 0 else DEFAULT_TIMEOUT_S


# When the current job's ffmpeg work must end (time.monotonic()); set by job_budget around one job.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("ffmpeg_deadline", default=None)


@contextlib.contextmanager
def job_budget() -> Iterator[None]:
    """All ffmpeg runs of one job share one time limit (a job may run ffmpeg several times)."""
    token = _DEADLINE.set(time.monotonic() + timeout_s())
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def job_time_left() -> float | None:
    """Seconds left of the current job's time (None outside job_budget): input downloads are bounded by it too."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _limit(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    deadline = _DEADLINE.get()
    return max(0.1, deadline - time.monotonic()) if deadline is not None else timeout_s()


def x264_args(crf: int = 23) -> list[str]:
    """H.264 in yuv420p, playable everywhere; MEDIA_X264_PRESET trades speed for size (tests: ultrafast)."""
    preset = os.environ.get("MEDIA_X264_PRESET", "veryfast")
    return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]


AAC_ARGS = ["-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2"]
MP4_ARGS = ["-movflags", "+faststart"]


def run_ffmpeg(
    args: Sequence[str], workdir: pathlib.Path, heartbeat: Heartbeat, what: str, timeout: float | None = None
) -> None:
    """Run `ffmpeg <args>` in workdir (relative paths are the workdir's), calling heartbeat every couple of
    seconds. Raises MediaError naming `what` with a short reason when ffmpeg fails or runs too long."""
    limit = _limit(timeout)
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error", *args]
    errors = workdir / ERROR_FILE
    try:
        with errors.open("wb") as stderr:
            process = subprocess.Popen(  # noqa: S603 - our own ffmpeg, arguments we built, no shell
                command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
            try:
                code = _wait(process, limit, heartbeat, what)
            finally:  # a time limit, or a heartbeat that says the job was abandoned: ffmpeg stops too
                if process.poll() is None:
                    process.kill()
                    process.wait()
        text = errors.read_text(errors="replace")
    finally:
        errors.unlink(missing_ok=True)
    if code < 0:  # killed by a signal: no stderr line tells why, and the last one may mislead
        raise MediaError(f"{what} failed: ffmpeg stopped unexpectedly ({_signal_name(-code)}){_HINTS.get(-code, '')}")
    if code != 0:
        if NO_SPACE_TEXT in text:  # the worker's disk, not the input: the same job cannot fit on a retry either
            raise MediaError(f"{what} failed: {disk_full_message(workdir)}")
        raise MediaError(f"{what} failed: {short_reason(text, workdir)}")


_HINTS = {int(signal.SIGKILL): "; the worker may have run out of memory for this input"}


def _signal_name(number: int) -> str:
    with contextlib.suppress(ValueError):
        return signal.Signals(number).name
    return f"signal {number}"


def _wait(process: subprocess.Popen[bytes], limit: float, heartbeat: Heartbeat, what: str) -> int:
    ends = time.monotonic() + limit  # by the clock: the heartbeats' own time (an AWS call each) counts too
    while True:
        try:
            return process.wait(timeout=max(0.0, min(HEARTBEAT_EVERY_S, ends - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= ends:
                raise MediaError(f"{what} went over the job's time for ffmpeg work and was stopped") from None
            heartbeat()


_NOISE = re.compile(
    r"^(Error opening (input|output) files?|Conversion failed|Exiting with exit code|Error while)", re.I
)
_PREFIX = re.compile(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*")


def short_reason(stderr: str, workdir: pathlib.Path) -> str:
    """The most telling line of ffmpeg's errors, without addresses or paths of the worker's disk."""
    lines = [_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not _NOISE.match(line)]
    reason = lines[-1] if lines else "ffmpeg gave no reason"
    reason = reason.replace(str(workdir.resolve()), "").replace(str(workdir), "")
    reason = re.sub(r"(/[\w.+-]+)+", "<file>", reason)  # any other absolute path
    return reason[:200]
