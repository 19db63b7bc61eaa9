"""Bad inputs are failed jobs with a sentence a person understands, naming the input's place in the params,
never a path of the worker's disk or ffmpeg's output, and never a crash."""

from __future__ import annotations

import pathlib

import pytest

from execution_api.media import MediaError, run_operation
from tests.media.conftest import Run, make, url

BAD_FILES = [
    ("empty.mp4", "is empty (zero bytes)"),
    ("corrupt.mp4", "is not a media file ffmpeg can read (corrupt or of an unsupported format)"),
    ("page.html", "is not a media file ffmpeg can read"),
    ("notes.txt", "is not a media file ffmpeg can read"),
]
# One call per operation whose single input is named by a URL param
OPERATIONS = [
    ("merge", lambda bad: {"items": [{"url": bad}]}, "/params/items/0/url"),
    ("reframe", lambda bad: {"aspectRatio": "9:16", "videoUrl": bad}, "/params/videoUrl"),
    ("layer", lambda bad: {"layers": [{"media": [bad]}]}, "/params/layers/0/media/0"),
    (
        "addSubtitles",
        lambda bad: {"videoUrl": bad, "transcript": [{"word": "a", "start": 0, "end": 1}]},
        "/params/videoUrl",
    ),
    ("transcribe", lambda bad: {"videoUrl": bad}, "/params/videoUrl"),
    ("lipSync", lambda bad: {"audioUrl": bad, "videoUrl": url("clip.mp4")}, "/params/audioUrl"),
    ("removeBackground", lambda bad: {"video": bad}, "/params/video"),
    ("generate", lambda bad: {"prompt": "x", "image": bad}, "/params/image"),
]


@pytest.mark.parametrize(("name", "reason"), BAD_FILES, ids=[name for name, _ in BAD_FILES])
@pytest.mark.parametrize(("operation", "params", "pointer"), OPERATIONS, ids=[op for op, _, _ in OPERATIONS])
def test_given_a_bad_file_when_an_operation_reads_it_then_the_job_fails_with_a_sentence(
    run: Run, name: str, reason: str, operation: str, params: object, pointer: str
) -> None:
    with pytest.raises(MediaError) as failure:
        run(operation, params(url(name)))  # type: ignore[operator]
    message = str(failure.value)
    assert message == f"the input at {pointer} {reason}" or message.startswith(f"the input at {pointer} {reason}")
    assert str(run.workdir) not in message
    assert "/tmp" not in message


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        (
            "reframe",
            {"aspectRatio": "1:1", "video": url("tone.mp3")},
            "the input at /params/video is audio; reframe needs a video or an image",
        ),
        (
            "addSubtitles",
            {"video": url("photo.jpg"), "transcript": [{"word": "a", "start": 0, "end": 1}]},
            "is an image; addSubtitles needs a video",
        ),
        (
            "removeBackground",
            {"video": url("red.png")},
            "the input at /params/video is an image; removeBackground needs a video",
        ),
        (
            "removeImageBackground",
            {"image": url("clip.mp4")},
            "the input at /params/image is a video; removeImageBackground needs an image",
        ),
        ("merge", {"items": [{"url": url("clip.mp4"), "type": "audio"}]}, "is a video; merge needs audio"),
    ],
)
def test_given_the_wrong_kind_of_media_when_run_then_the_sentence_names_what_was_needed(
    run: Run, operation: str, params: dict, message: str
) -> None:
    with pytest.raises(MediaError) as failure:
        run(operation, params)
    assert message in str(failure.value)


def test_given_a_url_that_is_not_a_string_when_run_then_it_is_refused_before_any_fetch(run: Run) -> None:
    with pytest.raises(MediaError, match="/params/videoUrl must be a URL"):
        run("reframe", {"aspectRatio": "1:1", "videoUrl": 42})
    assert run.fetched == []


def test_given_a_fetch_that_refuses_the_url_then_its_error_is_the_jobs(tmp_path: pathlib.Path) -> None:
    # Given the caller's fetch refusing a private address (media-plumbing's rule)
    def refuse(address: str, directory: pathlib.Path) -> pathlib.Path:
        raise MediaError("the input at /params/videoUrl is on a private address")

    with pytest.raises(MediaError, match="private address"):
        run_operation(
            "reframe", {"aspectRatio": "1:1", "videoUrl": "https://10.0.0.1/x.mp4"}, [], tmp_path, refuse, lambda: None
        )


def test_given_an_unknown_operation_then_the_sentence_lists_the_ones_that_exist(tmp_path: pathlib.Path) -> None:
    with pytest.raises(MediaError) as failure:
        run_operation("upscale", {}, [], tmp_path, lambda u, d: d, lambda: None)
    assert "'upscale' is not a media operation; these are: addSubtitles, generate" in str(failure.value)


def test_given_params_that_are_not_an_object_then_the_job_fails(tmp_path: pathlib.Path) -> None:
    with pytest.raises(MediaError, match="params must be an object"):
        run_operation("merge", [], [], tmp_path, lambda u, d: d, lambda: None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operation", "params", "pointer"),
    [
        ("reframe", {"aspectRatio": "9:16", "image": url("wide.png")}, "/params/image"),
        ("generate", {"prompt": "x", "image": url("wide.png")}, "/params/image"),
        ("layer", {"layers": [{"media": [url("wide.png")]}]}, "/params/layers/0/media/0"),
    ],
)
def test_given_a_picture_too_large_to_decode_then_the_job_fails_before_ffmpeg_works_on_it(
    run: Run, operation: str, params: dict, pointer: str
) -> None:
    # Given a small PNG that declares a picture wider than a worker may decode (a decompression bomb's shape)
    make(run.library, "wide.png", "-f", "lavfi", "-i", "color=c=red:s=9000x16", "-frames:v", "1")
    assert (run.library / "wide.png").stat().st_size < 100_000
    # When it is the input, then the job fails in words, naming its place
    with pytest.raises(MediaError) as failure:
        run(operation, params)
    assert str(failure.value) == f"the input at {pointer} is 9000x16 pixels; a picture may be at most 8192 on a side"
