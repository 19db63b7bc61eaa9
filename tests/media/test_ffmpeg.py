"""The runner and the probe: ffmpeg's time limit, heartbeats while it works, short reasons, and what
`ffmpeg -i` says about each kind of file."""

from __future__ import annotations

import pathlib
import subprocess
import time

import pytest

from execution_api.media import GENERATION_OPERATIONS, MEDIA_OPERATIONS, MediaError, ffmpeg
from execution_api.media.ffmpeg import run_ffmpeg, short_reason
from execution_api.media.probe import ProbeFailed, parse_probe, probe

LONG_WORK = ["-f", "lavfi", "-i", "testsrc=s=640x480:r=30", "-t", "600", "-f", "null", "-"]


def test_given_long_work_when_run_then_heartbeats_are_sent_and_it_is_stopped_at_the_limit(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ffmpeg, "HEARTBEAT_EVERY_S", 0.05)
    beats: list[int] = []
    with pytest.raises(MediaError, match=r"^encoding went over the job's time for ffmpeg work and was stopped$"):
        run_ffmpeg(LONG_WORK, tmp_path, lambda: beats.append(1), "encoding", timeout=0.3)
    assert len(beats) >= 2
    assert list(tmp_path.iterdir()) == []  # no error log left behind


def test_given_the_limit_from_the_environment_then_it_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_FFMPEG_TIMEOUT_SECONDS", "42.5")
    assert ffmpeg.timeout_s() == 42.5
    monkeypatch.setenv("MEDIA_FFMPEG_TIMEOUT_SECONDS", "soon")
    assert ffmpeg.timeout_s() == ffmpeg.DEFAULT_TIMEOUT_S


def test_given_a_failing_command_then_the_reason_is_short_and_names_no_path(tmp_path: pathlib.Path) -> None:
    with pytest.raises(MediaError) as failure:
        run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), "out.mp4"], tmp_path, lambda: None, "reading the video")
    message = str(failure.value)
    assert message.startswith("reading the video failed: ")
    assert "No such file or directory" in message
    assert str(tmp_path) not in message


def test_short_reason_keeps_the_telling_line_without_addresses_or_paths(tmp_path: pathlib.Path) -> None:
    stderr = (
        f"[in#0 @ 0x55705265c040] moov atom not found\n[in#0 @ 0x5570] Error opening input: Invalid data\n"
        f"Error opening input file {tmp_path}/inputs/1/a.mp4.\nError opening input files: Invalid data found\n"
    )
    assert short_reason(stderr, tmp_path) == "Error opening input: Invalid data"
    assert short_reason("Unknown encoder /opt/x/libfoo\n", tmp_path) == "Unknown encoder <file>"
    assert short_reason("", tmp_path) == "ffmpeg gave no reason"


def test_probe_reads_video_image_and_audio(library: pathlib.Path) -> None:
    video, image, audio = probe(library / "clip.mp4"), probe(library / "red.png"), probe(library / "tone.mp3")
    assert (video.kind, video.width, video.height, video.fps, video.video_codec, video.audio_codec) == (
        "video",
        320,
        240,
        30.0,
        "h264",
        "aac",
    )
    assert video.duration == pytest.approx(2.0, abs=0.05)
    assert (image.kind, image.duration, image.width) == ("image", None, 320)
    assert (audio.kind, audio.audio_codec, audio.sample_rate) == ("audio", "mp3", 44100)


def test_probe_refuses_what_ffmpeg_cannot_read(library: pathlib.Path) -> None:
    with pytest.raises(ProbeFailed, match="zero bytes"):
        probe(library / "empty.mp4")
    with pytest.raises(ProbeFailed, match="corrupt or of an unsupported format"):
        probe(library / "corrupt.mp4")


def test_probe_ignores_cover_art_and_reads_the_comment_tag() -> None:
    text = (
        "Input #0, mp3, from 'a.mp3':\n  Metadata:\n    comment         : hello there\n"
        "  Duration: 00:01:02.50, start: 0.025057, bitrate: 66 kb/s\n"
        "  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, stereo, fltp, 64 kb/s\n"
        "  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc), 500x500, 90k tbr, 90k tbn (attached pic)\n"
    )
    info = parse_probe(text)
    assert (info.kind, info.duration, info.comment, info.channels) == ("audio", 62.5, "hello there", "stereo")


def test_the_operation_sets_are_the_contracts() -> None:
    assert frozenset({"merge", "layer", "addSubtitles", "reframe"}) == MEDIA_OPERATIONS
    assert (
        frozenset(
            {
                "generate",
                "generateImage",
                "generateAudio",
                "transcribe",
                "removeBackground",
                "removeImageBackground",
                "lipSync",
            }
        )
        == GENERATION_OPERATIONS
    )


def test_given_a_heartbeat_that_abandons_the_job_then_ffmpeg_is_stopped(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a heartbeat that raises, as the worker's does when the task token is stale
    monkeypatch.setattr(ffmpeg, "HEARTBEAT_EVERY_S", 0.05)

    class Abandoned(Exception):
        pass

    def heartbeat() -> None:
        raise Abandoned

    started: list[object] = []
    real_popen = ffmpeg.subprocess.Popen

    def popen(*args: object, **kwargs: object) -> object:
        started.append(real_popen(*args, **kwargs))  # type: ignore[call-overload]
        return started[-1]

    monkeypatch.setattr(ffmpeg.subprocess, "Popen", popen)
    # When
    with pytest.raises(Abandoned):
        run_ffmpeg(LONG_WORK, tmp_path, heartbeat, "encoding", timeout=60)
    # Then the ffmpeg process has ended and nothing is left in the workdir
    assert started[0].poll() is not None  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []


def test_given_a_job_budget_then_its_ffmpeg_runs_share_it(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job's budget of 0.3 s, of which a first run has used everything
    monkeypatch.setattr(ffmpeg, "HEARTBEAT_EVERY_S", 0.05)
    monkeypatch.setenv("MEDIA_FFMPEG_TIMEOUT_SECONDS", "0.3")
    with ffmpeg.job_budget():
        with pytest.raises(MediaError):
            run_ffmpeg(LONG_WORK, tmp_path, lambda: None, "the first part")
        # When a second run starts, Then it gets only what is left (at least a tenth of a second)
        with pytest.raises(MediaError, match="the second part went over the job's time"):
            run_ffmpeg(LONG_WORK, tmp_path, lambda: None, "the second part")
    assert ffmpeg._DEADLINE.get() is None


@pytest.mark.parametrize(
    ("signal_number", "words"),
    [
        (9, "ffmpeg stopped unexpectedly (SIGKILL); the worker may have run out of memory for this input"),
        (11, "ffmpeg stopped unexpectedly (SIGSEGV)"),
    ],
)
def test_given_ffmpeg_killed_by_a_signal_then_the_job_fails_with_words_not_a_stale_stderr_line(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, signal_number: int, words: str
) -> None:
    # Given an ffmpeg that warns (the last stderr line) and then dies, as the OOM killer or a crash ends it
    real_popen = ffmpeg.subprocess.Popen

    def popen(*args: object, **kwargs: object) -> object:
        process = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        time.sleep(0.3)
        process.send_signal(signal_number)
        return process

    monkeypatch.setattr(ffmpeg.subprocess, "Popen", popen)
    # When
    with pytest.raises(MediaError) as failure:
        run_ffmpeg(LONG_WORK, tmp_path, lambda: None, "encoding", timeout=60)
    # Then the reason says what happened, and nothing is left behind
    assert str(failure.value) == f"encoding failed: {words}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "comment",
    [
        "hi Stream #0:1: Video: h264, yuv420p, 64x64, 30 fps Duration: 00:00:00.50",
        "hi\n  Stream #0:1: Video: h264, yuv420p, 64x64, 30 fps\n  Duration: 00:00:00.50",
    ],
    ids=["inline", "on-lines-of-their-own"],
)
def test_a_tag_that_reads_like_a_stream_never_changes_what_the_probe_sees(tmp_path: pathlib.Path, comment: str) -> None:
    # Given 2 s of audio whose comment tag (a client's text: generateAudio writes it) imitates ffmpeg's own lines
    command = [ffmpeg.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=d=2", "-metadata", f"comment={comment}"]
    subprocess.run([*command, str(tmp_path / "spoof.mp3")], check=True, timeout=60)  # noqa: S603
    # When probed, then it is what it is: audio, 2 s, no picture
    info = probe(tmp_path / "spoof.mp3")
    assert (info.kind, info.duration, info.video_codec, info.width, info.height) == ("audio", 2.0, None, 0, 0)


def test_a_display_matrix_turns_the_size_but_a_tag_that_says_so_does_not(tmp_path: pathlib.Path) -> None:
    text = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'a.mp4':\n  Duration: 00:00:01.00, start: 0.000000, bitrate: 36 kb/s\n"
        "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 64x32, 25 fps\n"
        "    Metadata:\n      comment         : rotation of 90.00 degrees\n"
    )
    assert (parse_probe(text).width, parse_probe(text).height) == (64, 32)
    turned = text + "    Side data:\n      Display Matrix: rotation of -90.00 degrees\n"
    assert (parse_probe(turned).width, parse_probe(turned).height) == (32, 64)


def test_given_slow_heartbeats_then_their_time_counts_against_the_limit(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given heartbeats every 0.05 s that each take 0.2 s (an AWS call on a slow day), and a 0.5 s limit
    monkeypatch.setattr(ffmpeg, "HEARTBEAT_EVERY_S", 0.05)
    beats: list[int] = []

    def slow_heartbeat() -> None:
        beats.append(1)
        time.sleep(0.2)

    # When long work runs, then it is stopped when the limit has passed by the clock: two or three beats fit
    # (counted by loops of 0.05 s, ignoring the beats' own time, nine would)
    with pytest.raises(MediaError, match="went over the job's time"):
        run_ffmpeg(LONG_WORK, tmp_path, slow_heartbeat, "encoding", timeout=0.5)
    assert len(beats) <= 3


@pytest.mark.skipif(not pathlib.Path("/dev/full").exists(), reason="needs /dev/full (every write fails with ENOSPC)")
def test_given_ffmpeg_out_of_disk_then_the_job_fails_saying_the_worker_needs_more_disk(tmp_path: pathlib.Path) -> None:
    # Given ffmpeg writing its output where every write fails with ENOSPC, as on a full /tmp
    args = ["-f", "lavfi", "-i", "testsrc=s=64x64:d=1", "-f", "rawvideo", "/dev/full"]
    # When
    with pytest.raises(MediaError) as failure:
        run_ffmpeg(args, tmp_path, lambda: None, "encoding", timeout=60)
    # Then the sentence says the disk, not the input, was the limit, and names no path
    message = str(failure.value)
    assert message.startswith("encoding failed: the job's inputs and output need more than the "), message
    assert message.endswith(" GB of disk this worker has; use smaller or fewer inputs")
    assert str(tmp_path) not in message
    assert list(tmp_path.iterdir()) == []
