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
