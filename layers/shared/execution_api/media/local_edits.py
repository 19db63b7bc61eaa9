"""The `local` provider's edits: stand-ins for model work, honest about being so (docs/operations.md).
transcribe reads the text a local generation left in the file's comment tag (else a fixed sentence) and
times one word per 0.4 s slot; removeBackground keeps a centred ellipse as the "subject"; lipSync lays the
speech over the picture, looping or cutting it to the speech's length."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from execution_api.media.contract import Fetch, Heartbeat, MediaError, MediaOutput
from execution_api.media.ffmpeg import AAC_ARGS, MP4_ARGS, run_ffmpeg, x264_args
from execution_api.media.generation import WORD_SECONDS
from execution_api.media.inputs import (
    AUDIO,
    IMAGE,
    PICTURE,
    VIDEO,
    Inputs,
    MediaInput,
    described,
    even,
    input_url,
    video_output,
)

FALLBACK_TEXT = "local transcript stand-in: no speech recognition runs without a provider"
OUTPUT_TYPES = ("green-screen", "alpha-mask", "foreground-mask")
FPS = 30


def run_transcribe(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    url, pointer = input_url(params, ("videoUrl", "audioUrl", "audio", "video", "url"), dependency_urls, "transcribe")
    media = Inputs(workdir, fetch).media(url, pointer, AUDIO, "transcribe")
    text = media.info.comment or FALLBACK_TEXT
    words = timed_words(text.split(), media.info.duration or 1.0)
    output = workdir / "transcript.json"
    output.write_text(json.dumps(words), "utf-8")
    source = "comment tag" if media.info.comment else "fixed sentence"
    return [MediaOutput(output, "text", "application/json")], {
        "provider": "local",
        "wordCount": len(words),
        "text": source,
    }


def timed_words(words: list[str], duration: float) -> list[dict[str, Any]]:
    """One word per slot of WORD_SECONDS (shorter when they would not fit), spoken for three quarters of it."""
    slot = min(WORD_SECONDS, duration / max(len(words), 1))
    return [
        {"word": word, "start": round(i * slot, 3), "end": round(i * slot + slot * 0.75, 3)}
        for i, word in enumerate(words)
    ]


def run_remove_background(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    output_type = params.get("outputType", params.get("output_type", "green-screen"))
    if output_type not in OUTPUT_TYPES:
        raise MediaError(f"/params/outputType must be one of {', '.join(OUTPUT_TYPES)}")
    url, pointer = input_url(params, ("video", "input_video", "videoUrl", "url"), dependency_urls, "removeBackground")
    video = Inputs(workdir, fetch).media(url, pointer, VIDEO, "removeBackground")
    size = (even(video.info.width), even(video.info.height))
    mask = _mask(workdir, size, heartbeat)
    output = workdir / "background-removed.mp4"
    w, h = size
    behind = "black" if output_type == "foreground-mask" else "0x00FF00"
    subject = f"[0:v]scale={w}:{h},setsar=1,fps={FPS},format=yuva420p[src];[1:v]format=gray[m];[src][m]alphamerge[fg]"
    if output_type == "alpha-mask":
        graph = f"[1:v]format=gray,fps={FPS},format=yuv420p[v]"
    else:
        graph = f"{subject};color=c={behind}:s={w}x{h}:r={FPS}[bg];[bg][fg]overlay=shortest=1,format=yuv420p[v]"
    audio = ["-map", "0:a:0?", *AAC_ARGS]
    args = [
        "-i",
        str(video.path),
        "-loop",
        "1",
        "-framerate",
        str(FPS),
        "-i",
        mask.name,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        *audio,
        "-t",
        f"{video.info.duration:.3f}",
        *x264_args(),
        *MP4_ARGS,
        output.name,
    ]
    run_ffmpeg(args, workdir, heartbeat, "removing the background")
    return [video_output(output)], {"provider": "local", "outputType": output_type}


def run_remove_image_background(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    keys = ("image", "_imageJobDependency", "imageUrl", "url")
    url, pointer = input_url(params, keys, dependency_urls, "removeImageBackground")
    image = Inputs(workdir, fetch).media(url, pointer, IMAGE, "removeImageBackground")
    size = (even(image.info.width), even(image.info.height))
    mask = _mask(workdir, size, heartbeat)
    output = workdir / "background-removed.png"
    graph = f"[0:v]scale={size[0]}:{size[1]},format=rgba[src];[1:v]format=gray[m];[src][m]alphamerge,format=rgba[v]"
    args = [
        "-i",
        str(image.path),
        "-i",
        mask.name,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-frames:v",
        "1",
        output.name,
    ]
    run_ffmpeg(args, workdir, heartbeat, "removing the background")
    return [described(output, "image/png")], {"provider": "local"}


def run_lip_sync(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    inputs = Inputs(workdir, fetch)
    audio_key = next((key for key in ("audioUrl", "audio") if params.get(key) is not None), None)
    if audio_key is None:
        raise MediaError("lipSync needs params.audioUrl: the speech to put on the picture")
    speech = inputs.sound(params[audio_key], f"/params/{audio_key}", "lipSync")
    url, pointer = input_url(params, ("videoUrl", "video", "image", "url"), dependency_urls, "lipSync")
    picture = inputs.media(url, pointer, PICTURE, "lipSync")
    output = workdir / "lip-synced.mp4"
    args = [
        *_looped(picture),
        "-i",
        str(speech.path),
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-vf",
        f"scale={even(picture.info.width)}:{even(picture.info.height)},setsar=1,format=yuv420p",
        "-t",
        f"{speech.info.duration or 1.0:.3f}",
        *x264_args(),
        *AAC_ARGS,
        *MP4_ARGS,
        output.name,
    ]
    run_ffmpeg(args, workdir, heartbeat, "putting the speech on the picture")
    return [video_output(output)], {"provider": "local", "method": "mux"}


def _looped(picture: MediaInput) -> list[str]:
    """The picture as an endless input: a still held, a video played again from the start."""
    if picture.info.kind == "image":
        return ["-loop", "1", "-framerate", str(FPS), "-i", str(picture.path)]
    return ["-stream_loop", "-1", "-i", str(picture.path)]


def _mask(workdir: pathlib.Path, size: tuple[int, int], heartbeat: Heartbeat) -> pathlib.Path:
    """A white ellipse (the stand-in's "subject") on black, one frame, the size of the picture."""
    w, h = size
    shape = f"255*lte(pow((X-{w / 2})/({w * 0.32}),2)+pow((Y-{h / 2})/({h * 0.45}),2),1)"
    mask = workdir / "mask.png"
    source = f"color=c=black:s={w}x{h}:d=0.1,format=gray,geq=lum='{shape}'"
    run_ffmpeg(
        ["-f", "lavfi", "-i", source, "-frames:v", "1", "-update", "1", mask.name],
        workdir,
        heartbeat,
        "drawing the mask",
    )
    return mask
