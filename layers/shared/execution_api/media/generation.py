"""The `local` provider's generation: real files made by ffmpeg, no model and no network, so every SDK
pipeline produces playable media under `make run` and in the tests. A stand-in, not a model: a video shows
its prompt on a coloured background (or on the given image), an image likewise, and speech is a babble of
tones, one syllable per word at 0.4 s, whose text rides in the file's comment tag for `transcribe`."""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from execution_api.media.captions import FONT_FAMILY
from execution_api.media.contract import Fetch, Heartbeat, MediaError, MediaOutput
from execution_api.media.ffmpeg import AAC_ARGS, MP4_ARGS, run_ffmpeg, x264_args
from execution_api.media.fonts import install_fonts
from execution_api.media.inputs import IMAGE, Inputs, MediaInput, choice, described, even, number, video_output
from execution_api.media.reframe import ratio_of

FPS = 30
WORD_SECONDS = 0.4  # one word every 0.4 s (150 words a minute), the pace of ordinary speech
MAX_TEXT = 5000
RESOLUTIONS = {"480p": 480, "720p": 720, "1080p": 1080}
IMAGE_SHORT_SIDE = 1024


def run_generate(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    prompt = _text(params, ("prompt",), required=False) or "(no prompt)"
    ratio = ratio_of(params.get("aspectRatio", "16:9"))
    short = RESOLUTIONS[choice(params, "resolution", tuple(RESOLUTIONS), "720p")]
    size = _size(ratio, short)
    inputs = Inputs(workdir, fetch)
    image = _optional(inputs, params, "image" if params.get("image") is not None else "startImage", IMAGE, "generate")
    audio = inputs.sound(params["audio"], "/params/audio", "generate") if params.get("audio") else None
    duration = number(params, "duration", 5, 1, 60) or 5.0
    if audio is not None and audio.info.duration:  # a talking head lasts as long as its speech
        duration = audio.info.duration
    args, fill = _background(image, size, params, prompt)
    if audio is not None:
        args += ["-i", str(audio.path)]
    _write_text_script(workdir, prompt, size, duration)
    fonts = install_fonts(workdir)
    output = workdir / "generated.mp4"
    args += ["-vf", f"{fill}ass=filename=prompt.ass:fontsdir={fonts},format=yuv420p", "-map", "0:v"]
    args += ["-map", "1:a:0", *AAC_ARGS] if audio is not None else []
    said = audio.info.comment if audio is not None and audio.info.comment else prompt  # what transcribe reads
    args += ["-t", f"{duration:.3f}", "-metadata", f"comment={said}", *x264_args(), *MP4_ARGS, output.name]
    run_ffmpeg(args, workdir, heartbeat, "generating the video")
    return [video_output(output)], {"provider": "local", "aspectRatio": params.get("aspectRatio", "16:9")}


def run_generate_image(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    prompt = _text(params, ("prompt",), required=False)
    inputs = Inputs(workdir, fetch)
    image = _optional(inputs, params, "image", IMAGE, "generateImage")
    if not prompt and image is None:
        raise MediaError("generateImage needs params.prompt or params.image")
    ratio = ratio_of(params.get("aspectRatio", "1:1"))
    size = _size(ratio, IMAGE_SHORT_SIDE)
    fmt = choice(params, "outputFormat", ("png", "jpg", "jpeg", "webp"), "png")
    extension, mime = ("jpg", "image/jpeg") if fmt in ("jpg", "jpeg") else ("png", "image/png")
    _write_text_script(workdir, prompt or "", size, 1.0)
    fonts = install_fonts(workdir)
    output = workdir / f"generated.{extension}"
    args, fill = _background(image, size, params, prompt or "")
    args += ["-vf", f"{fill}ass=filename=prompt.ass:fontsdir={fonts}", "-frames:v", "1", "-update", "1", output.name]
    run_ffmpeg(args, workdir, heartbeat, "generating the image")
    return [described(output, mime)], {"provider": "local", "format": extension}


def run_generate_audio(
    params: Mapping[str, Any], dependency_urls: Sequence[str], workdir: pathlib.Path, fetch: Fetch, heartbeat: Heartbeat
) -> tuple[list[MediaOutput], dict[str, Any]]:
    text = _text(params, ("text", "prompt", "input"), required=True)
    words = len(text.split())
    duration = max(1.0, words * WORD_SECONDS + 0.2)
    w = WORD_SECONDS
    # one voiced syllable per word: a gliding pitch under a smooth envelope, then a short pause
    voice = f"sin(2*PI*t*(150+40*sin(2*PI*t*0.7)+30*mod(floor(t/{w}),3)))"
    envelope = f"sin(PI*min(mod(t,{w})/{w * 0.75},1))*lt(mod(t,{w}),{w * 0.75})"
    source = f"aevalsrc='0.5*{voice}*{envelope}':s=44100:d={duration:.3f}"
    output = workdir / "speech.mp3"
    args = [
        "-f",
        "lavfi",
        "-i",
        source,
        "-c:a",
        "libmp3lame",
        "-b:a",
        "96k",
        "-metadata",
        f"comment={text}",
        output.name,
    ]
    run_ffmpeg(args, workdir, heartbeat, "generating the audio")
    return [described(output, "audio/mpeg")], {"provider": "local", "wordCount": words}


def _text(params: Mapping[str, Any], keys: Sequence[str], required: bool) -> str:
    for key in keys:
        value = params.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise MediaError(f"/params/{key} must be text of at most {MAX_TEXT} characters")
        return " ".join(value.split())
    if required:
        raise MediaError(f"this operation needs params.{keys[0]}: the text to speak")
    return ""


def _optional(inputs: Inputs, params: Mapping[str, Any], key: str, needs: Any, operation: str) -> MediaInput | None:
    value = params.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    return inputs.media(value, f"/params/{key}", needs, operation)


def _size(ratio: tuple[int, int], short: int) -> tuple[int, int]:
    if ratio[0] >= ratio[1]:
        return even(short * ratio[0] / ratio[1]), short
    return short, even(short * ratio[1] / ratio[0])


def _background(
    image: MediaInput | None, size: tuple[int, int], params: Mapping[str, Any], prompt: str
) -> tuple[list[str], str]:
    """The input filling the frame and the filters it needs first: the given image (cropped to cover), else
    a colour drifting in hue."""
    w, h = size
    if image is not None:
        cover = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,"
        return ["-loop", "1", "-framerate", str(FPS), "-i", str(image.path)], cover
    seed = str(params.get("seed", prompt))
    digest = hashlib.sha256(seed.encode()).hexdigest()
    colour = "".join(f"{int(digest[i : i + 2], 16) // 2 + 32:02x}" for i in (0, 2, 4))  # mid-dark: text stays legible
    return ["-f", "lavfi", "-i", f"color=c=0x{colour}:s={w}x{h}:r={FPS},hue=h=t*12"], ""


PROMPT_STYLE_FORMAT = (
    "Format: Name, Fontname, Fontsize, PrimaryColour, OutlineColour, BackColour, Bold, BorderStyle, Outline, Shadow, "
    "Alignment, MarginL, MarginR, MarginV"
)


def _write_text_script(workdir: pathlib.Path, text: str, size: tuple[int, int], duration: float) -> None:
    """The prompt as one centred caption (this ffmpeg draws text only through libass)."""
    w, h = size
    font = round(min(w, h) / 14)
    shown = text.replace("\\", "/").replace("{", "(").replace("}", ")")[:400]
    end = f"{int(duration // 3600)}:{int(duration % 3600 // 60):02d}:{duration % 60:05.2f}"
    style = f"Style: Prompt,{FONT_FAMILY},{font},&H00FFFFFF,&H00000000,&H80000000,-1,1,{max(1, font // 12)},0,5"
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {w}",
        f"PlayResY: {h}",
        "WrapStyle: 0",
        "",
        "[V4+ Styles]",
        PROMPT_STYLE_FORMAT,
        f"{style},{w // 10},{w // 10},0",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Text",
        f"Dialogue: 0,0:00:00.00,{end},Prompt,{{\\fad(300,300)}}{shown}",
    ]
    (workdir / "prompt.ass").write_text("\n".join(lines) + "\n", "utf-8")
