"""The media worker's benchmarks (issue 21, point 7), run by `make bench-media` (and `make bench`):
each operation's wall time and peak memory on a 10 s 720p input (60 s for merge), beside ffmpeg's own time
for the same commands (the floor: the work no wrapper can avoid), the worker's cold start, and the cost per
minute of output on Lambda arm64 at list prices for the recommended memory. Fills the tables of
docs/media-benchmarks.md, whose prose is written by hand.

Each case runs in its own Python process, so peak memory (ru_maxrss) is that case's alone. Encoding uses
the media worker's default x264 preset (veryfast). Times are this machine's; docs/media-benchmarks.md says how
they carry over to Lambda.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from bench.report import Column, fill, pairs, table

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "media-benchmarks.md"
PRICE_PER_GB_SECOND = 0.0000133334  # Lambda arm64 duration, us-east-1 list price
PRICE_PER_REQUEST = 0.20 / 1_000_000
MEMORY_MB = 3008  # recommended: about two vCPUs, ffmpeg's x264 threads use them
TEXT = " ".join(["every", "word", "of", "this", "caption", "is", "timed"] * 4)

CASES: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "merge (60 s, copy)": ("merge", {"items": [{"url": "a30.mp4"}, {"url": "b30.mp4"}]}, []),
    "merge (60 s, re-encode)": ("merge", {"items": [{"url": "a30.mp4"}, {"url": "c30.mp4"}]}, []),
    "reframe 9:16": ("reframe", {"aspectRatio": "9:16", "videoUrl": "a10.mp4"}, []),
    "layer (pip image)": (
        "layer",
        {"layers": [{"media": ["a10.mp4"]}, {"media": ["logo.png"], "placement": "pip"}]},
        [],
    ),
    "addSubtitles (tiktok)": ("addSubtitles", {"videoUrl": "a10.mp4", "transcript": "words.json"}, []),
    "generate (10 s 720p)": ("generate", {"prompt": "a benchmark clip", "duration": 10, "resolution": "720p"}, []),
    "generateImage": ("generateImage", {"prompt": "a benchmark image"}, []),
    "generateAudio (28 words)": ("generateAudio", {"text": TEXT}, []),
    "transcribe": ("transcribe", {"videoUrl": "a10.mp4"}, []),
    "removeBackground": ("removeBackground", {"video": "a10.mp4"}, []),
    "lipSync": ("lipSync", {"audioUrl": "a10.mp4", "videoUrl": "a10.mp4"}, []),
}


def make_inputs(folder: pathlib.Path) -> None:
    from execution_api.media.ffmpeg import ffmpeg_exe

    def make(name: str, *args: str) -> None:
        command = [ffmpeg_exe(), "-v", "error", "-y", *args, str(folder / name)]
        subprocess.run(command, check=True, timeout=600)  # noqa: S603

    x264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "44100", "-ac", "2"]
    for name, size, seconds in (
        ("a10.mp4", "1280x720", 10),
        ("a30.mp4", "1280x720", 30),
        ("b30.mp4", "1280x720", 30),
        ("c30.mp4", "960x720", 30),
    ):
        make(
            name,
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s={size}:r=30:d={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=f=440:d={seconds}",
            *x264,
            "-shortest",
        )
    make("logo.png", "-f", "lavfi", "-i", "testsrc=s=400x300", "-frames:v", "1")
    words = [{"word": w, "start": i * 0.35, "end": i * 0.35 + 0.3} for i, w in enumerate(TEXT.split())]
    (folder / "words.json").write_text(json.dumps(words))


class RecordingSubprocess:
    """Stands in for the ffmpeg module's `subprocess`: records each ffmpeg command and its wall time."""

    DEVNULL = subprocess.DEVNULL
    TimeoutExpired = subprocess.TimeoutExpired

    def __init__(self) -> None:
        self.commands: list[tuple[list[str], str]] = []

    def Popen(self, command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        self.commands.append((command, str(kwargs["cwd"])))
        return subprocess.Popen(command, **kwargs)  # noqa: S603


def run_case(name: str, library: pathlib.Path) -> dict[str, Any]:
    """One case in this process: the operation, then its ffmpeg commands alone (the floor)."""
    import execution_api.media.ffmpeg as ffmpeg_module
    from execution_api.media import run_operation

    operation, params, dependencies = CASES[name]
    recorder = RecordingSubprocess()
    ffmpeg_module.subprocess = recorder  # type: ignore[assignment]
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-media-"))

    def fetch(address: str, directory: pathlib.Path) -> pathlib.Path:
        return pathlib.Path(shutil.copyfile(library / address, directory / address))

    try:
        started = time.perf_counter()
        outputs, metadata = run_operation(operation, params, dependencies, workdir, fetch, lambda: None)
        seconds = time.perf_counter() - started
        children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        floor_started = time.perf_counter()
        for command, cwd in recorder.commands:
            subprocess.run(command, cwd=cwd, check=True, capture_output=True)  # noqa: S603
        floor = time.perf_counter() - floor_started
        main = outputs[0]
        return {
            "seconds": seconds,
            "floor": floor,
            "ffmpeg_runs": len(recorder.commands),
            "python_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "ffmpeg_mb": children_peak,
            "output_seconds": main.duration_seconds,
            "output_mb": main.path.stat().st_size / 1e6,
            "method": metadata.get("method"),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def cold_start() -> float:
    """Seconds from a new interpreter to the media package imported and ffmpeg answering, less a bare start."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")}
    code = (
        "import subprocess; from execution_api.media import run_operation; "
        "from execution_api.media import merge, captions_job, layer, reframe; "
        "from execution_api.media.ffmpeg import ffmpeg_exe; "
        "subprocess.run([ffmpeg_exe(), '-version'], capture_output=True)"
    )
    timings = []
    for script in (code, "pass"):
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", script], check=True, env=env)  # noqa: S603
            runs.append(time.perf_counter() - started)
        timings.append(min(runs))
    return timings[0] - timings[1]


def cost_per_output_minute(seconds: float, output_seconds: float | None) -> float | None:
    if not output_seconds:
        return None
    job = seconds * MEMORY_MB / 1024 * PRICE_PER_GB_SECOND + PRICE_PER_REQUEST
    return job * 60 / output_seconds


def output_text(r: dict[str, Any]) -> str:
    size = f"{r['output_mb']:.2f} MB"
    return f"{r['output_seconds']:.1f} s, {size}" if r["output_seconds"] else size


def cost_text(r: dict[str, Any]) -> str:
    cost = cost_per_output_minute(r["seconds"], r["output_seconds"])
    return f"${cost:.5f}" if cost else "n/a"


def tables(results: dict[str, dict[str, Any]], cold: float, load: float) -> dict[str, list[str]]:
    """The sections of docs/media-benchmarks.md: the run, one row per operation, the worker's cold start."""
    run = [
        ("Date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("Machine", f"{platform.machine()}, {os.cpu_count()} CPUs"),
        ("Load average at start", f"{load:.1f}"),
        ("Cold start of the worker's media part, beyond a bare interpreter", f"{cold * 1000:.0f} ms"),
    ]
    columns: list[Column] = [
        ("Operation", lambda item: item[0]),
        ("Wall time", lambda item: f"{item[1]['seconds']:.2f} s"),
        ("ffmpeg alone", lambda item: f"{item[1]['floor']:.2f} s"),
        ("ffmpeg runs", lambda item: item[1]["ffmpeg_runs"]),
        ("Peak memory (ffmpeg + Python)", lambda item: f"{item[1]['ffmpeg_mb']:.0f} + {item[1]['python_mb']:.0f} MB"),
        ("Output", lambda item: output_text(item[1])),
        (f"Cost per minute of output at {MEMORY_MB} MB", lambda item: cost_text(item[1])),
    ]
    return {"run": pairs(run), "operations": table(columns, list(results.items()), "lllllll")}


def main() -> None:
    sys.path.insert(0, str(ROOT / "layers" / "shared"))
    load = os.getloadavg()[0]
    library = pathlib.Path(tempfile.mkdtemp(prefix="bench-media-inputs-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
    env.pop("MEDIA_X264_PRESET", None)
    try:
        make_inputs(library)
        results = {}
        for name in CASES:
            done = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "bench.media", "--case", name, str(library)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
            )
            results[name] = json.loads(done.stdout)
            print(f"{name}: {results[name]['seconds']:.2f} s (ffmpeg alone {results[name]['floor']:.2f} s)")
        cold = cold_start()
    finally:
        shutil.rmtree(library, ignore_errors=True)
    OUTPUT.write_text(fill(OUTPUT.read_text(encoding="utf-8"), tables(results, cold, load)), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2], pathlib.Path(sys.argv[3]))))
    else:
        main()
