"""The types every media operation shares: what it produces and how it refuses (the contract of
/work/briefs/media-interface.md, re-exported by the package)."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

OutputType = Literal["video", "image", "audio", "text"]

# fetch(url, directory) downloads one input into `directory` and returns its path (the caller's rules).
Fetch = Callable[[str, pathlib.Path], pathlib.Path]
Heartbeat = Callable[[], None]


@dataclass(frozen=True)
class MediaOutput:
    path: pathlib.Path  # a file inside workdir; the caller uploads it and counts its bytes
    type: OutputType
    mime_type: str
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None


class MediaError(Exception):
    """A job that cannot succeed with these inputs or params: failed, never retried. The message is a
    sentence for a person: no paths of the worker's disk, no ffmpeg output dump."""
