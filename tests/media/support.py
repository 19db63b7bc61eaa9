"""Looking at outputs: probe them, and read the pixels of one frame (rgb24) to compare regions."""

from __future__ import annotations

import pathlib
import subprocess

from execution_api.media.ffmpeg import ffmpeg_exe
from execution_api.media.probe import MediaInfo, probe

FRAME = 1 / 30


def info(path: pathlib.Path) -> MediaInfo:
    return probe(path)


class Frame:
    def __init__(self, data: bytes, width: int, height: int) -> None:
        self.data, self.width, self.height = data, width, height

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        at = (y * self.width + x) * 3
        return self.data[at], self.data[at + 1], self.data[at + 2]

    def changed_pixels(self, other: Frame, threshold: int = 24) -> int:
        """How many pixels differ by more than `threshold` in some channel (text, not encoding noise)."""
        a, b = self.data, other.data
        return sum(
            1
            for at in range(0, len(a), 3)
            if abs(a[at] - b[at]) > threshold
            or abs(a[at + 1] - b[at + 1]) > threshold
            or abs(a[at + 2] - b[at + 2]) > threshold
        )

    def region_difference(self, other: Frame, box: tuple[int, int, int, int]) -> float:
        """Mean absolute difference per channel over the box (x, y, width, height)."""
        x0, y0, w, h = box
        total = 0
        for y in range(y0, y0 + h):
            start = (y * self.width + x0) * 3
            row_a, row_b = self.data[start : start + w * 3], other.data[start : start + w * 3]
            total += sum(abs(a - b) for a, b in zip(row_a, row_b, strict=True))
        return total / (w * h * 3)


def frame(path: pathlib.Path, seconds: float) -> Frame:
    """The frame shown at `seconds`, as rgb24 at the file's own size."""
    media = probe(path)
    command = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-ss",
        f"{seconds:.3f}",
        "-i",
        str(path),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]
    data = subprocess.run(command, check=True, capture_output=True, timeout=60).stdout  # noqa: S603
    assert len(data) == media.width * media.height * 3, "one whole frame"
    return Frame(data, media.width, media.height)


def alpha_at(path: pathlib.Path, x: int, y: int) -> int:
    """The alpha of one pixel of an image with transparency."""
    media = probe(path)
    command = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-i",
        str(path),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgba",
        "-",
    ]
    data = subprocess.run(command, check=True, capture_output=True, timeout=60).stdout  # noqa: S603
    return data[(y * media.width + x) * 4 + 3]
