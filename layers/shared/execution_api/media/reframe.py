"""reframe: a video (or image) in another aspect ratio. `fit: "crop"` (the default) keeps the centre and
fills the frame, as short-form platforms expect; `fit: "pad"` keeps the whole picture on black bars.
Sizes stay even and the picture's resolution is kept (nothing is upscaled)."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from execution_api.media.contract import Fetch, Heartbeat, MediaError, MediaOutput
from execution_api.media.ffmpeg import AAC_ARGS, MP4_ARGS, run_ffmpeg, x264_args
from execution_api.media.inputs import PICTURE, Inputs, choice, described, even, input_url, video_output

ASPECT_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9", "9:21")
FITS = ("crop", "pad")
INPUT_KEYS = ("videoUrl", "video", "url", "image")


def ratio_of(
    text: Any, pointer: str = "/params/aspectRatio", allowed: tuple[str, ...] = ASPECT_RATIOS
) -> tuple[int, int]:
    if text not in allowed:
        raise MediaError(f"{pointer} must be one of {', '.join(allowed)}")
    width, height = str(text).split(":")
    return int(width), int(height)


def reframed_size(width: int, height: int, ratio: tuple[int, int], fit: str) -> tuple[int, int]:
    """The largest centred crop of that ratio (crop), or the smallest canvas of that ratio around it (pad)."""
    target = ratio[0] / ratio[1]
    wider = width / height > target
    if fit == "crop":
        return (even(height * target), even(height)) if wider else (even(width), even(width / target))
    return (even(width), even(width / target)) if wider else (even(height * target), even(height))


def reframe_filter(size: tuple[int, int], fit: str) -> str:
    w, h = size
    if fit == "crop":
        return f"crop={w}:{h},setsar=1"  # centred by default
    return f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"


def run_reframe(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    ratio = ratio_of(params.get("aspectRatio"))
    fit = choice(params, "fit", FITS, "crop")
    url, pointer = input_url(params, INPUT_KEYS, dependency_urls, "reframe")
    source = Inputs(workdir, fetch).media(url, pointer, PICTURE, "reframe")
    info = source.info
    size = reframed_size(info.width, info.height, ratio, fit)
    picture = reframe_filter(size, fit)
    metadata = {
        "aspectRatio": params["aspectRatio"],
        "fit": fit,
        "sourceWidth": info.width,
        "sourceHeight": info.height,
    }
    if info.kind == "image":
        output = workdir / "reframed.png"
        run_ffmpeg(
            ["-i", str(source.path), "-vf", picture, "-frames:v", "1", output.name],
            workdir,
            heartbeat,
            "reframing the image",
        )
        return [described(output, "image/png")], metadata
    output = workdir / "reframed.mp4"
    audio = ["-c:a", "copy"] if info.audio_codec == "aac" else AAC_ARGS
    args = [
        "-i",
        str(source.path),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-vf",
        f"{picture},format=yuv420p",
        *x264_args(),
        *audio,
        *MP4_ARGS,
        output.name,
    ]
    run_ffmpeg(args, workdir, heartbeat, "reframing the video")
    return [video_output(output)], metadata
