"""What every asynchronous provider client returns: a prediction in our words, and how to find it again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

State = Literal["running", "succeeded", "failed", "canceled"]


@dataclass(frozen=True)
class ProviderOutput:
    url: str  # the provider's (expiring) URL: copied into the OutputsBucket before the job completes
    mime_type: str | None = None
    # The picture's size where the provider states it (fal's images); the work-queue worker has no ffmpeg to
    # probe the copy, so nothing is guessed otherwise.
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Prediction:
    id: str
    state: State
    outputs: tuple[ProviderOutput, ...] = ()
    words: tuple[dict[str, Any], ...] | None = None  # a transcription's word list, when the model gave one
    error: str | None = None
    handle: Mapping[str, str] = field(default_factory=dict)  # stored to read or cancel it later (no secret)


class PredictionClient(Protocol):
    """A provider that runs predictions asynchronously and calls back when done (Replicate, fal)."""

    name: str

    def submit(self, model: str, provider_input: Mapping[str, Any], callback_url: str | None) -> Prediction: ...

    def read(self, handle: Mapping[str, str]) -> Prediction: ...

    def cancel(self, handle: Mapping[str, str]) -> None: ...


def transcript_words(output: Any) -> tuple[dict[str, Any], ...] | None:
    """Whisper's word list from the first of its known shapes (OPERATIONS.md 2.4): output.chunks (text,
    timestamp), output.segments[].words, output.words. None when the output holds none."""
    if not isinstance(output, dict):
        return None
    words: list[dict[str, Any]] = []
    if isinstance(output.get("chunks"), list):
        for chunk in output["chunks"]:
            stamp = chunk.get("timestamp") if isinstance(chunk, dict) else None
            if isinstance(stamp, list | tuple) and len(stamp) == 2:
                end = stamp[1] if stamp[1] is not None else stamp[0]
                words.append({"word": str(chunk.get("text", "")).strip(), "start": stamp[0], "end": end})
    elif isinstance(output.get("segments"), list):
        for segment in output["segments"]:
            for word in (segment.get("words") or []) if isinstance(segment, dict) else []:
                if isinstance(word, dict) and "start" in word and "end" in word:  # a word without times: skipped
                    words.append(
                        {"word": str(word.get("word", "")).strip(), "start": word["start"], "end": word["end"]}
                    )
    elif isinstance(output.get("words"), list):
        words = [w for w in output["words"] if isinstance(w, dict)]
    return tuple(words) or None


# (offset, magic bytes, mime type): the leading bytes of the formats the models in the map produce.
_MAGIC = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (8, b"WEBP", "image/webp"),
    (8, b"WAVE", "audio/wav"),
    (4, b"ftyp", "video/mp4"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
    (0, b"\xff\xf2", "audio/mpeg"),
)


def sniffed_mime_type(head: bytes) -> str | None:
    """The mime type the file's first bytes show, for outputs whose provider names none (Replicate gives
    URLs only); None when they show none of the known formats."""
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    return None
