"""merge (OPERATIONS.md 3.1): videos and images one after another, audio items mixed over them.
Inputs that already share codec, size, frame rate and audio format are joined by copying their streams
(no quality loss, seconds instead of minutes); anything else is normalised to the first picture's size at
30 fps. The metadata says which was done."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from execution_api.media.contract import Fetch, Heartbeat, MediaError, MediaOutput
from execution_api.media.ffmpeg import AAC_ARGS, MP4_ARGS, run_ffmpeg, x264_args
from execution_api.media.inputs import Inputs, MediaInput, even, fit_and_pad, number, video_output
from execution_api.media.probe import Kind

MAX_ITEMS = 100
FPS = 30
COPYABLE_VIDEO = {"h264", "hevc"}
COPYABLE_AUDIO = {"aac", "mp3"}
AUDIO_FORMAT = "aformat=sample_fmts=fltp:sample_rates=44100:channel_layouts=stereo"
ALL_KINDS: tuple[Kind, ...] = ("video", "image", "audio")


@dataclass(frozen=True)
class Item:
    media: MediaInput
    duration: float  # how long it plays (an image's display time, a video's length or its trim)
    trimmed: bool
    volume: float
    offset: float = 0.0  # audio items only


def run_merge(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    inputs = Inputs(workdir, fetch)
    items = [_item(inputs, raw, pointer) for raw, pointer in _raw_items(params, dependency_urls)]
    clips = [item for item in items if item.media.info.kind != "audio"]
    overlays = [item for item in items if item.media.info.kind == "audio"]
    if not clips:
        raise MediaError("merge needs at least one video or image item; audio items are mixed over them")
    output = workdir / "merged.mp4"
    # the items' comment tags, joined: what a local generation wrote there stays readable by transcribe
    comments = " ".join(c.media.info.comment for c in clips if c.media.info.comment)
    tags = ["-metadata", f"comment={comments}"] if comments else []
    if _copyable(clips, overlays):
        _concat_copy(clips, workdir, heartbeat, output, tags)
        method = "copy"
    else:
        run_ffmpeg(_encode_args(clips, overlays, output, tags), workdir, heartbeat, "merging the items")
        method = "re-encode"
    result = video_output(output)
    metadata = {"method": method, "itemCount": len(clips), "audioCount": len(overlays)}
    return [result], metadata


def _raw_items(params: Mapping[str, Any], dependency_urls: Sequence[str]) -> list[tuple[Mapping[str, Any], str]]:
    raw = params.get("items")
    if raw is None:  # a merge naming no items joins its dependencies' outputs, in dependsOn order
        if not dependency_urls:
            raise MediaError("merge needs params.items: the videos, images and audio to join")
        return [({"url": url}, f"/dependsOn/{i}") for i, url in enumerate(dependency_urls)]
    if not isinstance(raw, list) or not raw:
        raise MediaError("/params/items must be a non-empty list of {url, type?, duration?, offset?, volume?}")
    if len(raw) > MAX_ITEMS:
        raise MediaError(f"/params/items holds {len(raw)} items; merge joins at most {MAX_ITEMS}")
    items: list[tuple[Mapping[str, Any], str]] = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict):
            raise MediaError(f"/params/items/{i} must be an object with a url")
        items.append((entry, f"/params/items/{i}/url"))
    return items


def _item(inputs: Inputs, raw: Mapping[str, Any], pointer: str) -> Item:
    where = pointer.removesuffix("/url")
    declared = raw.get("type")
    if declared is not None and declared not in ALL_KINDS:
        raise MediaError(f"{where}/type must be video, image or audio")
    # the SDK calls a .gif an image: an animated one plays as a video
    needs: tuple[Kind, ...] = ("image", "video") if declared == "image" else (declared,) if declared else ALL_KINDS
    media = inputs.media(raw.get("url"), pointer, needs, "merge")  # type: ignore[arg-type]
    asked = number(raw, "duration", None, 0.04, 3600, where)
    volume = number(raw, "volume", 1.0, 0, 10, where) or 0.0
    length = media.info.duration
    if media.info.kind == "image":
        return Item(media, asked or 1.0, False, volume)
    assert length is not None  # a video or audio always has a duration (probe)
    duration = min(asked, length) if asked else length
    offset = number(raw, "offset", 0.0, 0, 3600, where) or 0.0
    return Item(media, duration, asked is not None and asked < length, volume, offset)


def _copyable(clips: list[Item], overlays: list[Item]) -> bool:
    """True when joining the files as they are gives the same result as normalising them."""
    if overlays or any(c.media.info.kind != "video" or c.trimmed or c.volume != 1.0 for c in clips):
        return False
    first = clips[0].media.info
    same = ("video_codec", "width", "height", "fps", "pixel_format", "audio_codec", "sample_rate", "channels")
    if any(getattr(c.media.info, key) != getattr(first, key) for c in clips for key in same):
        return False
    return first.video_codec in COPYABLE_VIDEO and first.audio_codec in (COPYABLE_AUDIO | {None})


def _concat_copy(
    clips: list[Item], workdir: pathlib.Path, heartbeat: Heartbeat, output: pathlib.Path, tags: list[str]
) -> None:
    listing = workdir / "concat.txt"
    quoted = (c.media.path.relative_to(workdir).as_posix().replace("'", "'\\''") for c in clips)
    listing.write_text("".join(f"file '{path}'\n" for path in quoted))
    args = ["-f", "concat", "-safe", "0", "-i", listing.name, "-map", "0", "-c", "copy", *tags, *MP4_ARGS, output.name]
    run_ffmpeg(args, workdir, heartbeat, "joining the videos")


def _encode_args(clips: list[Item], overlays: list[Item], output: pathlib.Path, tags: list[str]) -> list[str]:
    first = clips[0].media.info
    width, height = even(first.width), even(first.height)
    args: list[str] = []
    filters: list[str] = []
    with_audio = bool(overlays) or any(c.media.info.has_audio for c in clips)
    joined = ""
    for i, clip in enumerate(clips):
        d = f"{clip.duration:.3f}"
        if clip.media.info.kind == "image":
            args += ["-loop", "1", "-framerate", str(FPS), "-t", d, "-i", str(clip.media.path)]
            filters.append(f"[{i}:v]{fit_and_pad(width, height, FPS)},trim=duration={d},setpts=PTS-STARTPTS[v{i}]")
        else:
            args += ["-i", str(clip.media.path)]
            filters.append(f"[{i}:v]trim=duration={d},setpts=PTS-STARTPTS,{fit_and_pad(width, height, FPS)}[v{i}]")
        if with_audio:
            filters.append(_clip_audio(i, clip, d))
        joined += f"[v{i}][a{i}]" if with_audio else f"[v{i}]"
    filters.append(f"{joined}concat=n={len(clips)}:v=1:a={int(with_audio)}[v]" + ("[a]" if with_audio else ""))
    total = sum(c.duration for c in clips)
    mixed = _mix_overlays(overlays, len(clips), total, args, filters)
    audio_out = ["-map", mixed, *AAC_ARGS] if with_audio else []
    return [
        *args,
        "-filter_complex",
        ";".join(filters),
        "-map",
        "[v]",
        *audio_out,
        *x264_args(),
        *MP4_ARGS,
        output.name,
    ]


def _clip_audio(i: int, clip: Item, d: str) -> str:
    """The clip's own sound at its volume, padded or cut to its length; silence when it has none."""
    if clip.media.info.has_audio:
        own = f"[{i}:a]atrim=duration={d},asetpts=PTS-STARTPTS,volume={clip.volume:g},{AUDIO_FORMAT}"
        return f"{own},apad=whole_dur={d},atrim=duration={d}[a{i}]"
    return f"anullsrc=r=44100:cl=stereo,atrim=duration={d}[a{i}]"


def _mix_overlays(overlays: list[Item], first_input: int, total: float, args: list[str], filters: list[str]) -> str:
    """Each audio item from its offset, cut at the end of the pictures, mixed without attenuation."""
    labels: list[str] = []
    for j, item in enumerate(overlays):
        length = min(item.duration, total - item.offset)
        if length <= 0:
            continue  # starts after the pictures end: nothing of it would be heard
        index = first_input + len(labels)
        args += ["-i", str(item.media.path)]
        delay = round(item.offset * 1000)
        filters.append(
            f"[{index}:a]atrim=duration={length:.3f},asetpts=PTS-STARTPTS,volume={item.volume:g},{AUDIO_FORMAT},"
            f"adelay=delays={delay}:all=1[o{j}]"
        )
        labels.append(f"[o{j}]")
    if not labels:
        return "[a]"
    filters.append(f"[a]{''.join(labels)}amix=inputs={len(labels) + 1}:duration=first:normalize=0[mix]")
    return "[mix]"
