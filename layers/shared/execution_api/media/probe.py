"""What a media file holds, read from `ffmpeg -i` (imageio-ffmpeg ships no ffprobe): its kind (video,
image, audio), duration, picture size, frame rate, codecs and the text of its comment tag."""

from __future__ import annotations

import pathlib
import re
import subprocess
from dataclasses import dataclass
from typing import Literal

from execution_api.media.ffmpeg import ffmpeg_exe

Kind = Literal["video", "image", "audio"]
PROBE_TIMEOUT_S = 60.0
IMAGE_FORMATS = re.compile(r"^(image2|\w+_pipe|png|apng|webp)$")
# The demuxers an input may use: media containers and still images. Not playlists (hls, concat: they make
# ffmpeg open other files or URLs), nor text ffmpeg would draw as video (tty).
DEMUXERS = (
    "mov,matroska,webm,avi,flv,mpegts,mpeg,ogg,wav,mp3,aac,flac,asf,gif,apng,image2,png_pipe,jpeg_pipe,"
    "webp_pipe,bmp_pipe,tiff_pipe,gif_pipe"
)

_INPUT = re.compile(r"^Input #0, ([^,]+(?:,[^ ]+)*), from", re.M)
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #0:\d+[^:]*: Video: (\w+)(.*)$", re.M)
_AUDIO = re.compile(r"Stream #0:\d+[^:]*: Audio: (\w+)(.*)$", re.M)
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")
_RATE = re.compile(r"(\d+) Hz, ([\w.() ]+?),")
_PIX = re.compile(r",\s*([a-z0-9]+)(?:\(|,)")
_COMMENT = re.compile(r"^\s{4}comment\s*: (.*)$", re.M)
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees", re.I)


@dataclass(frozen=True)
class MediaInfo:
    kind: Kind
    format: str
    duration: float | None  # seconds; None for a still image
    video_codec: str | None = None
    width: int = 0
    height: int = 0
    fps: float = 0.0
    pixel_format: str | None = None
    audio_codec: str | None = None
    sample_rate: int = 0
    channels: str | None = None
    comment: str | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


INPUT_GUARD = ("-protocol_whitelist", "file", "-format_whitelist", DEMUXERS)


class ProbeFailed(Exception):
    """ffmpeg cannot read the file; the reason is a short phrase for a sentence."""


def probe(path: pathlib.Path) -> MediaInfo:
    if not path.is_file() or path.stat().st_size == 0:
        raise ProbeFailed("is empty (zero bytes)")
    try:
        done = subprocess.run(  # noqa: S603 - our own ffmpeg with a path we wrote
            [ffmpeg_exe(), "-hide_banner", "-nostdin", *INPUT_GUARD, "-i", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ProbeFailed("could not be read within a minute") from None
    return parse_probe(done.stderr)


def parse_probe(text: str) -> MediaInfo:
    """MediaInfo from the text `ffmpeg -i` prints about its first input."""
    header = _INPUT.search(text)
    if header is None:
        raise ProbeFailed("is not a media file ffmpeg can read (corrupt or of an unsupported format)")
    fmt = header.group(1)
    video = next((m for m in _VIDEO.finditer(text) if "attached pic" not in m.group(2)), None)
    audio = _AUDIO.search(text)
    if video is None and audio is None:
        raise ProbeFailed("holds neither a picture nor sound")
    duration = _duration(text)
    comment = _COMMENT.search(text)
    fields: dict[str, object] = {"format": fmt, "duration": duration, "comment": comment and comment.group(1).strip()}
    if audio is not None:
        rate = _RATE.search(audio.group(2))
        fields |= {
            "audio_codec": audio.group(1),
            "sample_rate": int(rate.group(1)) if rate else 0,
            "channels": rate.group(2) if rate else None,
        }
    if video is None:
        return MediaInfo(kind="audio", **fields)  # type: ignore[arg-type]
    size, fps, pix = _SIZE.search(video.group(2)), _FPS.search(video.group(2)), _PIX.search(video.group(2))
    if size is None:
        raise ProbeFailed("has a picture stream of unknown size")
    still = bool(IMAGE_FORMATS.match(fmt)) or duration is None
    width, height = int(size.group(1)), int(size.group(2))
    if _quarter_turned(text[video.end() :]):  # phones store portrait video turned: ffmpeg turns it back
        width, height = height, width
    fields |= {
        "video_codec": video.group(1),
        "width": width,
        "height": height,
        "pixel_format": pix.group(1) if pix else None,
        "fps": float(fps.group(1)) * (1000 if fps.group(2) else 1) if fps else 0.0,
    }
    if still:
        fields |= {"duration": None, "audio_codec": None}
    return MediaInfo(kind="image" if still else "video", **fields)  # type: ignore[arg-type]


def _duration(text: str) -> float | None:
    found = _DURATION.search(text)
    if found is None:
        return None
    hours, minutes, seconds = found.groups()
    value = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return value if value > 0 else None


def _quarter_turned(after_stream: str) -> bool:
    """The stream's display matrix (in its side data, before the next stream) turns it by 90 or 270 degrees."""
    side = after_stream.split("Stream #", 1)[0]
    rotation = _ROTATION.search(side)
    return rotation is not None and round(abs(float(rotation.group(1)))) % 180 == 90
