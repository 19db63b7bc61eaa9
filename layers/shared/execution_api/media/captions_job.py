"""addSubtitles: burns captions into a video with libass (the `captions()` form: a word list inline, or the
URL of a `transcribe` job's JSON). The video is re-encoded; its sound is kept as it is."""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from execution_api.media.captions import Word, build_ass, resolve_style
from execution_api.media.contract import Fetch, Heartbeat, MediaError, MediaOutput
from execution_api.media.ffmpeg import AAC_ARGS, MP4_ARGS, run_ffmpeg, x264_args
from execution_api.media.fonts import install_fonts
from execution_api.media.inputs import VIDEO, Inputs, input_url, video_output

VIDEO_KEYS = ("videoUrl", "video", "url")
TRANSCRIPT_KEYS = ("transcript", "captions", "words")
MAX_WORDS = 20_000
MAX_TRANSCRIPT_BYTES = 10 * 1024 * 1024


def run_add_subtitles(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    style = resolve_style(params.get("style"))
    inputs = Inputs(workdir, fetch)
    words = _transcript(params, inputs)
    url, pointer = input_url(params, VIDEO_KEYS, dependency_urls, "addSubtitles")
    video = inputs.media(url, pointer, VIDEO, "addSubtitles")
    (workdir / "captions.ass").write_text(build_ass(words, style, video.info.width, video.info.height), "utf-8")
    fonts = install_fonts(workdir)
    audio = ["-c:a", "copy"] if video.info.audio_codec in {"aac", "mp3"} else AAC_ARGS
    output = workdir / "captioned.mp4"
    args = [
        "-i",
        str(video.path),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-vf",
        f"ass=filename=captions.ass:fontsdir={fonts}",
        *x264_args(),
        *audio,
        *MP4_ARGS,
        output.name,
    ]
    run_ffmpeg(args, workdir, heartbeat, "burning the captions")
    return [video_output(output)], {"preset": style["preset"], "wordCount": len(words), "transcriptLength": len(words)}


def _transcript(params: Mapping[str, Any], inputs: Inputs) -> list[Word]:
    key = next((k for k in TRANSCRIPT_KEYS if params.get(k) is not None), None)
    if key is None:
        raise MediaError(
            "addSubtitles needs a transcript: a word list in params.transcript, or a transcribe job it depends on"
        )
    value = params[key]
    if isinstance(value, str):
        path = inputs.download(value, f"/params/{key}")
        if path.stat().st_size > MAX_TRANSCRIPT_BYTES:
            raise MediaError(f"the transcript at /params/{key} is over {MAX_TRANSCRIPT_BYTES // 1024 // 1024} MB")
        try:
            value = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError):
            raise MediaError(f"the transcript at /params/{key} is not JSON") from None
    return parse_words(value, f"/params/{key}")


def parse_words(value: Any, pointer: str) -> list[Word]:
    """A list of {word, start, end} (seconds), or an object holding one under "words"; sorted by start."""
    if isinstance(value, Mapping) and isinstance(value.get("words"), list):
        value = value["words"]
    if not isinstance(value, list) or not value:
        raise MediaError(f"the transcript at {pointer} must be a non-empty list of {{word, start, end}}")
    if len(value) > MAX_WORDS:
        raise MediaError(f"the transcript at {pointer} holds {len(value)} words; at most {MAX_WORDS}")
    words = []
    for i, entry in enumerate(value):
        word = _word(entry)
        if word is None:
            raise MediaError(f"{pointer}/{i} must be {{word, start, end}} with 0 <= start <= end (seconds)")
        if word.text:
            words.append(word)
    if not words:
        raise MediaError(f"the transcript at {pointer} has no words")
    return sorted(words, key=lambda w: w.start)


def _word(entry: Any) -> Word | None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("word", entry.get("text")), str):
        return None
    start, end = entry.get("start"), entry.get("end")
    numbers = (start, end)
    if any(isinstance(n, bool) or not isinstance(n, int | float) or not math.isfinite(n) for n in numbers):
        return None
    if not 0 <= start <= end:  # type: ignore[operator]
        return None
    return Word(str(entry.get("word", entry.get("text"))).strip(), float(start), float(end))  # type: ignore[arg-type]
