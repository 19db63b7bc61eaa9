"""Reading a job's params and inputs: each input is fetched into its own folder of the workdir, probed,
and refused with a sentence naming its place in the params when it is not what the operation needs."""

from __future__ import annotations

import math
import pathlib
import re
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from execution_api.media.contract import Fetch, MediaError, MediaOutput
from execution_api.media.probe import Kind, MediaInfo, ProbeFailed, probe

_ARTICLE = {"video": "a video", "image": "an image", "audio": "audio"}
VIDEO: tuple[Kind, ...] = ("video",)
PICTURE: tuple[Kind, ...] = ("video", "image")
IMAGE: tuple[Kind, ...] = ("image",)
AUDIO: tuple[Kind, ...] = ("audio", "video")  # sound is taken from a video's audio track too


@dataclass(frozen=True)
class MediaInput:
    path: pathlib.Path
    info: MediaInfo
    pointer: str  # where the input was named: /params/items/1/url, or /dependsOn/0


class Inputs:
    """Fetches each input into its own folder under workdir/inputs, so two inputs never collide."""

    def __init__(self, workdir: pathlib.Path, fetch: Fetch) -> None:
        self._workdir = workdir
        self._fetch = fetch

    def download(self, url: str, pointer: str) -> pathlib.Path:
        if not isinstance(url, str) or not url.strip():
            raise MediaError(f"the input at {pointer} must be a URL")
        root = self._workdir / "inputs"
        root.mkdir(exist_ok=True)
        folder = pathlib.Path(tempfile.mkdtemp(prefix="input-", dir=root))  # a fresh folder, whoever came before
        fetched = self._fetch(url, folder)
        if not fetched.is_file() or fetched.stat().st_size == 0:
            raise MediaError(f"the input at {pointer} is empty (zero bytes)")
        # a name of ours: ffmpeg reads "%d" in a file name as a sequence pattern, and paths land in filters
        suffix = fetched.suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", fetched.suffix) else ""
        return fetched.rename(folder / f"input{suffix}")

    def media(self, url: str, pointer: str, needs: Collection[Kind], operation: str) -> MediaInput:
        """Fetch and probe one input; refuse it unless its kind is one of `needs`."""
        path = self.download(url, pointer)
        return self.checked(path, pointer, needs, operation)

    def sound(self, url: str, pointer: str, operation: str) -> MediaInput:
        """An input whose sound is used: an audio file, or a video that has an audio track."""
        media = self.media(url, pointer, AUDIO, operation)
        if not media.info.has_audio:
            raise MediaError(f"the input at {pointer} is a video without sound; {operation} needs its sound")
        return media

    def media_of(self, path: pathlib.Path, pointer: str) -> MediaInput:
        """A file this job made (an intermediate), probed like an input."""
        return self.checked(path, pointer, ("video", "image", "audio"), "this job")

    def checked(self, path: pathlib.Path, pointer: str, needs: Collection[Kind], operation: str) -> MediaInput:
        try:
            info = probe(path)
        except ProbeFailed as failure:
            raise MediaError(f"the input at {pointer} {failure}") from None
        if info.kind not in needs:
            wanted = " or ".join(_ARTICLE[kind] for kind in needs)
            raise MediaError(f"the input at {pointer} is {_ARTICLE[info.kind]}; {operation} needs {wanted}")
        return MediaInput(path, info, pointer)


def input_url(
    params: Mapping[str, Any], keys: Sequence[str], dependency_urls: Sequence[str], operation: str
) -> tuple[str, str]:
    """(url, pointer) of the one input an operation works on: the first of `keys` present in params, else the
    first dependency's output (the SDK chains `reframe`, `captions` ... without naming their input)."""
    for key in keys:
        value = params.get(key)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise MediaError(f"/params/{key} must be a URL")
            return value, f"/params/{key}"
    if dependency_urls:
        return dependency_urls[0], "/dependsOn/0"
    names = ", ".join(f"params.{key}" for key in keys)
    raise MediaError(f"{operation} needs an input: give {names} or make the job depend on the job whose output it uses")


def number(
    params: Mapping[str, Any], key: str, default: float | None, low: float, high: float, pointer: str = "/params"
) -> float | None:
    """A number param within [low, high], or the default when absent."""
    value = params.get(key)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise MediaError(f"{pointer}/{key} must be a number from {low:g} to {high:g}")
    return float(value)


def choice(params: Mapping[str, Any], key: str, allowed: Sequence[str], default: str) -> str:
    value = params.get(key, default)
    if value not in allowed:
        raise MediaError(f"/params/{key} must be one of {', '.join(allowed)}")
    return str(value)


def even(value: float) -> int:
    """Rounded down to an even number of pixels (yuv420p needs even sizes), at least 2."""
    return max(2, int(value) // 2 * 2)


def fit_and_pad(width: int, height: int, fps: int | None = 30) -> str:
    """Filters that fit a picture inside width x height (aspect kept), centred on black, square pixels."""
    chain = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"
    )
    return f"{chain},fps={fps},format=yuv420p" if fps else chain


def video_output(path: pathlib.Path) -> MediaOutput:
    """The MediaOutput of an MP4 we wrote, with what probing it says (so the numbers are the file's)."""
    return described(path, "video/mp4")


def described(path: pathlib.Path, mime_type: str) -> MediaOutput:
    try:
        info = probe(path)
    except ProbeFailed as failure:  # our own ffmpeg wrote it: a broken output is a bug, not bad input
        raise RuntimeError(f"the output {path.name} {failure}") from None
    if info.kind == "audio":
        return MediaOutput(path, "audio", mime_type, duration_seconds=info.duration)
    return MediaOutput(path, info.kind, mime_type, info.duration, info.width, info.height)
