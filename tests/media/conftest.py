"""Real media for the media tests, made once per session by the same ffmpeg the worker runs: short and small
(1-2 s, 320x240, ultrafast) so the suite stays quick on a shared machine. Inputs are named by https URLs
that a fake fetch maps to these files, as media-plumbing's fetch maps URLs to downloads."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from execution_api.media import MediaOutput, run_operation
from execution_api.media.ffmpeg import ffmpeg_exe

BASE_URL = "https://media.test/"
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def make(folder: pathlib.Path, name: str, *args: str) -> None:
    command = [ffmpeg_exe(), "-v", "error", "-y", *args, str(folder / name)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603


def make_library(folder: pathlib.Path) -> None:
    aac = ["-c:a", "aac", "-ar", "44100", "-ac", "2"]
    make(
        folder,
        "clip.mp4",
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=320x240:r=30:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2",
        *X264,
        *aac,
        "-shortest",
    )
    make(
        folder,
        "clip2.mp4",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:r=30:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=f=660:d=1",
        *X264,
        *aac,
        "-shortest",
    )
    make(folder, "silent.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=1", *X264)
    make(folder, "small.mp4", "-f", "lavfi", "-i", "testsrc=s=160x120:r=25:d=1", *X264)
    make(
        folder,
        "blue.mp4",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=320x240:r=30:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=f=300:d=1",
        *X264,
        *aac,
        "-shortest",
    )
    make(folder, "gray.mp4", "-f", "lavfi", "-i", "color=c=gray:s=320x240:r=30:d=2", *X264)
    make(
        folder,
        "keyed.mp4",
        "-f",
        "lavfi",
        "-i",
        "color=c=0x00FF00:s=320x240:r=30:d=1,drawbox=x=120:y=80:w=80:h=80:c=red:t=fill",
        *X264,
    )
    make(folder, "red.png", "-f", "lavfi", "-i", "color=c=red:s=320x240", "-frames:v", "1")
    make(folder, "photo.jpg", "-f", "lavfi", "-i", "testsrc=s=400x300", "-frames:v", "1")
    make(folder, "portrait.mp4", "-display_rotation", "90", "-i", str(folder / "clip2.mp4"), "-c", "copy")
    make(folder, "anim.gif", "-f", "lavfi", "-i", "testsrc=s=160x120:r=10:d=0.5")
    make(folder, "tone.mp3", "-f", "lavfi", "-i", "sine=f=880:d=1", "-c:a", "libmp3lame")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (folder / "page.html").write_text("<!doctype html><html><body>Not found</body></html>")
    (folder / "notes.txt").write_text("plain words, not media\n" * 20)


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("media-library")
    make_library(folder)
    return folder


def url(name: str) -> str:
    return BASE_URL + name


@dataclass
class Run:
    """run_operation with a fetch over the library; counts heartbeats and fetches."""

    library: pathlib.Path
    workdir: pathlib.Path
    fetched: list[str] = field(default_factory=list)
    heartbeats: int = 0

    def fetch(self, address: str, directory: pathlib.Path) -> pathlib.Path:
        self.fetched.append(address)
        name = address.removeprefix(BASE_URL)
        target = directory / name.rsplit("/", 1)[-1]
        shutil.copyfile(self.library / name, target)
        return target

    def beat(self) -> None:
        self.heartbeats += 1

    def __call__(
        self, operation: str, params: Mapping[str, Any], dependencies: Sequence[str] = ()
    ) -> tuple[list[MediaOutput], dict[str, Any]]:
        outputs, metadata = run_operation(operation, params, dependencies, self.workdir, self.fetch, self.beat)
        for output in outputs:  # every output is a file of the caller's workdir
            assert output.path.is_file()
            assert self.workdir in output.path.resolve().parents
        return outputs, metadata


@pytest.fixture
def run(library: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("MEDIA_X264_PRESET", "ultrafast")
    workdir = tmp_path / "work"
    workdir.mkdir()
    elsewhere = tmp_path / "tmp"
    elsewhere.mkdir()
    monkeypatch.setenv("TMPDIR", str(elsewhere))  # anything written outside the workdir would land here
    yield Run(library, workdir.resolve())
    assert not any(elsewhere.iterdir()), "the operation left files outside its workdir"
    assert os.environ.get("TMPDIR") == str(elsewhere)
