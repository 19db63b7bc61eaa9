"""layer (OPERATIONS.md 3.2): pictures composited on one canvas. Layer 0 is the base, fitted and padded to
the canvas; the others are drawn over it in order at their placement, optionally chroma-keyed. The main
layer (mainLayer, else the one flagged `main`, else 0) gives the sound and, unless outputDuration is set,
the length. Images are held for the whole output; a video that ends before the output is hidden after its
end (the base holds its last frame). Timeline layers are stitched into one clip first (timeline.py)."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from execution_api.media.contract import Fetch, Heartbeat, MediaError, MediaOutput
from execution_api.media.ffmpeg import AAC_ARGS, MP4_ARGS, run_ffmpeg, x264_args
from execution_api.media.inputs import PICTURE, Inputs, MediaInput, even, fit_and_pad, number, video_output
from execution_api.media.placement import Box, place
from execution_api.media.timeline import stitch_timeline

MAX_LAYERS = 16
FPS = 30
DEFAULT_STILL_SECONDS = 5.0  # only images and no outputDuration: a short clip rather than an endless one
MAX_SECONDS = 3600
MAX_CANVAS_SIDE = 7680  # 8K UHD wide; a canvas past it would take more memory than the worker has


@dataclass(frozen=True)
class Layer:
    media: MediaInput
    spec: Mapping[str, Any]  # the layer's own fields (placement, chromaKey ...); a timeline's first item's
    pointer: str


def run_layer(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    specs = _layer_specs(params, dependency_urls)
    inputs = Inputs(workdir, fetch)
    regular = {i: _fetch_layer(inputs, spec, i) for i, spec in enumerate(specs) if not spec.get("isTimeline")}
    main = _main_index(params, specs, regular)
    duration = _duration(params, regular, main)
    layers: list[Layer] = []
    for i, spec in enumerate(specs):
        if i in regular:
            layers.append(regular[i])
        else:
            clip, first = stitch_timeline(spec, i, duration, inputs, workdir, heartbeat)
            layers.append(Layer(clip, first, f"/params/layers/{i}"))
    canvas = _canvas(params, layers[0].media)
    output = workdir / "layered.mp4"
    run_ffmpeg(_args(layers, canvas, duration, main, output), workdir, heartbeat, "compositing the layers")
    metadata = {"layerCount": len(layers), "mainLayer": main, "width": canvas[0], "height": canvas[1]}
    return [video_output(output)], metadata


def _layer_specs(params: Mapping[str, Any], dependency_urls: Sequence[str]) -> list[Mapping[str, Any]]:
    raw = params.get("layers")
    if raw is None and dependency_urls:  # layer over the dependencies' outputs, the first as the base
        return [{"media": [url], "placement": "full" if i == 0 else "center"} for i, url in enumerate(dependency_urls)]
    if not isinstance(raw, list) or not raw or not all(isinstance(spec, Mapping) for spec in raw):
        raise MediaError(
            '/params/layers must be a non-empty list of layers such as {"media": [url], "placement": "pip"}'
        )
    if len(raw) > MAX_LAYERS:
        raise MediaError(f"/params/layers holds {len(raw)} layers; at most {MAX_LAYERS}")
    if all(spec.get("isTimeline") for spec in raw):
        raise MediaError("/params/layers needs at least one regular layer: it gives the timeline its length")
    return raw


def _fetch_layer(inputs: Inputs, spec: Mapping[str, Any], i: int) -> Layer:
    media = spec.get("media")
    url = media[0] if isinstance(media, list) and media else media
    if not isinstance(url, str):
        raise MediaError(f"/params/layers/{i}/media must be a URL or a list of URLs")
    pointer = f"/params/layers/{i}/media" + ("/0" if isinstance(media, list) else "")
    return Layer(inputs.media(url, pointer, PICTURE, "layer"), spec, pointer)


def _main_index(params: Mapping[str, Any], specs: list[Mapping[str, Any]], regular: Mapping[int, Layer]) -> int:
    chosen = params.get("mainLayer")
    if chosen is not None:
        if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen not in regular:
            raise MediaError("/params/mainLayer must be the index of a regular (not timeline) layer")
        return chosen
    flagged = [i for i in regular if specs[i].get("main") is True]
    return flagged[0] if flagged else min(regular)


def _duration(params: Mapping[str, Any], regular: Mapping[int, Layer], main: int) -> float:
    asked = number(params, "outputDuration", None, 0.1, MAX_SECONDS)
    if asked:
        return asked
    main_length = regular[main].media.info.duration
    if main_length:
        return main_length
    lengths = [layer.media.info.duration for layer in regular.values() if layer.media.info.duration]
    return max(lengths) if lengths else DEFAULT_STILL_SECONDS


def _canvas(params: Mapping[str, Any], base: MediaInput) -> tuple[int, int]:
    width = number(params, "outputWidth", None, 16, MAX_CANVAS_SIDE)
    height = number(params, "outputHeight", None, 16, MAX_CANVAS_SIDE)
    if width and height:
        return even(width), even(height)
    if width or height:  # one side given: the other follows the base's aspect ratio, within the same bound
        scale = (width or 0) / base.info.width if width else (height or 0) / base.info.height
        canvas = even(base.info.width * scale), even(base.info.height * scale)
        if max(canvas) > MAX_CANVAS_SIDE:
            given = "outputWidth" if width else "outputHeight"
            raise MediaError(
                f"/params/{given} with the base layer's shape makes a {canvas[0]}x{canvas[1]} canvas; "
                f"at most {MAX_CANVAS_SIDE} on a side (give both outputWidth and outputHeight)"
            )
        return canvas
    return even(base.info.width), even(base.info.height)


def _args(layers: list[Layer], canvas: tuple[int, int], duration: float, main: int, output: pathlib.Path) -> list[str]:
    args: list[str] = []
    for layer in layers:
        if layer.media.info.kind == "image":
            args += ["-loop", "1", "-framerate", str(FPS)]
        args += ["-i", str(layer.media.path)]
    d = f"{duration:.3f}"
    filters = [f"[0:v]{fit_and_pad(*canvas, fps=FPS)},tpad=stop_mode=clone:stop_duration={d}[c0]"]
    for i, layer in enumerate(layers[1:], start=1):
        box = place(
            layer.spec.get("placement"),
            canvas,
            (layer.media.info.width, layer.media.info.height),
            f"{layer.pointer}/placement",
        )
        filters.append(f"[{i}:v]{_key(layer)}{_scale(box)}setsar=1,fps={FPS}[l{i}]")
        filters.append(f"[c{i - 1}][l{i}]overlay=x={box.x}:y={box.y}:eof_action=pass[c{i}]")
    filters.append(f"[c{len(layers) - 1}]format=yuv420p[v]")
    sound = layers[main].media.info.has_audio
    audio = ["-map", f"{main}:a:0", *AAC_ARGS] if sound else []
    return [
        *args,
        "-filter_complex",
        ";".join(filters),
        "-map",
        "[v]",
        *audio,
        "-t",
        d,
        *x264_args(),
        *MP4_ARGS,
        output.name,
    ]


def _scale(box: Box) -> str:
    return f"scale={box.width}:{box.height},"


def _key(layer: Layer) -> str:
    """Chroma key (before scaling, as the original backend does): the key colour becomes transparent."""
    spec = layer.spec
    if spec.get("chromaKey") is not True:
        return ""
    colour = str(spec.get("chromaKeyColor") or "0x00FF00").replace("#", "0x")
    if not colour.startswith("0x") or len(colour) != 8 or any(c not in "0123456789abcdefABCDEF" for c in colour[2:]):
        raise MediaError(f"{layer.pointer.rsplit('/media', 1)[0]}/chromaKeyColor must be a colour such as #00FF00")
    similarity = number(spec, "similarity", 0.25, 0.01, 1, layer.pointer.rsplit("/media", 1)[0])
    blend = number(spec, "blend", 0.05, 0, 1, layer.pointer.rsplit("/media", 1)[0])
    return f"format=rgba,colorkey={colour}:{similarity:g}:{blend:g},"
