"""Timeline layers (OPERATIONS.md 3.2): a layer whose `timeline` lists media shown one after another. Items
without a duration share what the explicit ones leave of the output's length; each is fitted to the first
item's size (aspect kept), videos cut or held on their last frame, images held; the result is one silent
clip, placed like the first item."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

from execution_api.media.contract import Heartbeat, MediaError
from execution_api.media.ffmpeg import MP4_ARGS, run_ffmpeg, x264_args
from execution_api.media.inputs import PICTURE, Inputs, MediaInput, even, fit_and_pad, number

MAX_ITEMS = 50
FPS = 30


def stitch_timeline(
    spec: Mapping[str, Any], index: int, total: float, inputs: Inputs, workdir: pathlib.Path, heartbeat: Heartbeat
) -> tuple[MediaInput, Mapping[str, Any]]:
    """The timeline as one clip of `total` seconds, and the first item (its placement and chroma key)."""
    where = f"/params/layers/{index}/timeline"
    items = spec.get("timeline")
    if not isinstance(items, list) or not items or not all(isinstance(item, Mapping) for item in items):
        raise MediaError(f"{where} must be a non-empty list of {{media, duration?, placement?}}")
    if len(items) > MAX_ITEMS:
        raise MediaError(f"{where} holds {len(items)} items; at most {MAX_ITEMS}")
    durations = _durations(items, total, where)
    media = [_fetch(inputs, item, f"{where}/{i}") for i, item in enumerate(items)]
    size = (even(media[0].info.width), even(media[0].info.height))
    output = workdir / f"timeline-{index}.mp4"
    run_ffmpeg(_args(media, durations, size, output), workdir, heartbeat, f"stitching the timeline of layer {index}")
    return inputs.media_of(output, where), items[0]


def _durations(items: list[Mapping[str, Any]], total: float, where: str) -> list[float]:
    explicit = [number(item, "duration", None, 0.04, 3600, f"{where}/{i}") for i, item in enumerate(items)]
    free = [i for i, d in enumerate(explicit) if d is None]
    left = total - sum(d for d in explicit if d is not None)
    if free and left <= 0:
        raise MediaError(
            f"{where}: the items with a duration already fill the {total:g} s output; the others get no time"
        )
    share = left / len(free) if free else 0.0
    return [d if d is not None else share for d in explicit]


def _fetch(inputs: Inputs, item: Mapping[str, Any], where: str) -> MediaInput:
    media = item.get("media")
    url = media[0] if isinstance(media, list) and media else media
    if not isinstance(url, str):
        raise MediaError(f"{where}/media must be a URL or a list of URLs")
    return inputs.media(url, f"{where}/media" + ("/0" if isinstance(media, list) else ""), PICTURE, "layer")


def _args(media: list[MediaInput], durations: list[float], size: tuple[int, int], output: pathlib.Path) -> list[str]:
    args: list[str] = []
    filters = []
    for i, (item, seconds) in enumerate(zip(media, durations, strict=True)):
        d = f"{seconds:.3f}"
        if item.info.kind == "image":
            args += ["-loop", "1", "-framerate", str(FPS), "-t", d]
        args += ["-i", str(item.path)]
        filters.append(
            f"[{i}:v]{fit_and_pad(*size, fps=FPS)},tpad=stop_mode=clone:stop_duration={d},"
            f"trim=duration={d},setpts=PTS-STARTPTS[t{i}]"
        )
    joined = "".join(f"[t{i}]" for i in range(len(media)))
    filters.append(f"{joined}concat=n={len(media)}:v=1:a=0[v]")
    return [*args, "-filter_complex", ";".join(filters), "-map", "[v]", *x264_args(), *MP4_ARGS, output.name]
