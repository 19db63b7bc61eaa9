"""The local provider on real files: generated media of the asked shape, and the edits' stand-ins."""

from __future__ import annotations

import json

import pytest

from execution_api.media import MediaError
from execution_api.media.captions_job import parse_words
from tests.media.conftest import Run, url
from tests.media.support import FRAME, alpha_at, frame, info


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"prompt": "a cat", "duration": 2, "aspectRatio": "9:16", "resolution": "480p"}, (480, 852)),
        ({"prompt": "a dog", "duration": 1, "aspectRatio": "1:1", "resolution": "480p"}, (480, 480)),
        ({"prompt": "wide", "duration": 1, "aspectRatio": "21:9", "resolution": "480p"}, (1120, 480)),
    ],
)
def test_given_a_prompt_when_generated_then_a_video_of_that_length_and_ratio_shows_it(
    run: Run, params: dict, size: tuple[int, int]
) -> None:
    [output], metadata = run("generate", params)
    video = info(output.path)
    assert (video.width, video.height) == size
    assert video.duration == pytest.approx(params["duration"], abs=FRAME)
    assert video.comment == params["prompt"]  # transcribe reads it back
    assert metadata["provider"] == "local"
    # the prompt is drawn in white at the centre of a mid-dark background
    picture = frame(output.path, params["duration"] / 2)
    centre_row = [picture.pixel(x, size[1] // 2) for x in range(size[0] // 4, 3 * size[0] // 4)]
    assert any(min(rgb) > 200 for rgb in centre_row)
    assert max(picture.pixel(4, 4)) < 200


def test_given_an_image_and_audio_when_generated_then_the_video_lasts_as_long_as_the_speech(run: Run) -> None:
    [output], _ = run("generate", {"prompt": "talking head", "image": url("photo.jpg"), "audio": url("tone.mp3")})
    video = info(output.path)
    assert video.comment == "talking head"  # the tone carries no text: the prompt stays
    assert video.has_audio
    assert video.duration == pytest.approx(1.0, abs=2 * FRAME)
    assert (video.width, video.height) == (1280, 720)


@pytest.mark.parametrize(("fmt", "mime"), [("png", "image/png"), ("jpg", "image/jpeg")])
def test_given_a_prompt_when_an_image_is_generated_then_it_is_a_real_image(run: Run, fmt: str, mime: str) -> None:
    [output], _ = run("generateImage", {"prompt": "a red fox", "aspectRatio": "3:4", "outputFormat": fmt})
    image = info(output.path)
    assert image.kind == "image"
    assert (image.width, image.height) == (1024, 1364)
    assert output.mime_type == mime
    assert output.path.suffix == f".{fmt}"


def test_given_text_when_audio_is_generated_then_its_length_follows_the_words_and_transcribe_reads_them(
    run: Run,
) -> None:
    text = "one two three four five six seven eight nine ten"
    [speech], metadata = run("generateAudio", {"text": text})
    audio = info(speech.path)
    assert audio.kind == "audio"
    assert audio.audio_codec == "mp3"
    assert speech.mime_type == "audio/mpeg"
    assert audio.duration == pytest.approx(10 * 0.4 + 0.2, abs=0.06)  # mp3 frames are 26 ms
    assert metadata["wordCount"] == 10
    # transcribe (local) gives a word list addSubtitles accepts, timed within the audio
    run.library.joinpath("speech.mp3").write_bytes(speech.path.read_bytes())
    [transcript], _ = run("transcribe", {"videoUrl": url("speech.mp3")})
    words = json.loads(transcript.path.read_text())
    assert [w["word"] for w in words] == text.split()
    assert words[-1]["end"] <= audio.duration
    assert parse_words(words, "/x")
    assert transcript.mime_type == "application/json"
    assert transcript.type == "text"
    # a talking head made from that speech carries the speech's text, not the prompt, for its captions
    [head], _ = run("generate", {"prompt": "a presenter", "audio": url("speech.mp3"), "resolution": "480p"})
    assert info(head.path).comment == text


def test_given_media_without_text_when_transcribed_then_a_stand_in_sentence_fills_its_length(run: Run) -> None:
    [transcript], metadata = run("transcribe", {}, [url("clip.mp4")])
    words = json.loads(transcript.path.read_text())
    assert metadata["text"] == "fixed sentence"
    assert words[0]["start"] == 0
    assert words[-1]["end"] <= 2.0


@pytest.mark.parametrize(
    ("output_type", "corner"),
    [("green-screen", (0, 255, 0)), ("alpha-mask", (0, 0, 0)), ("foreground-mask", (0, 0, 0))],
)
def test_given_a_video_when_its_background_is_removed_then_outside_the_subject_is_replaced(
    run: Run, output_type: str, corner: tuple[int, int, int]
) -> None:
    [output], _ = run("removeBackground", {"video": url("blue.mp4"), "outputType": output_type})
    picture = frame(output.path, 0.5)
    assert all(abs(a - b) < 40 for a, b in zip(picture.pixel(2, 2), corner, strict=True))
    centre = picture.pixel(160, 120)
    assert centre[0] > 200 if output_type == "alpha-mask" else centre[2] > 200  # the subject: white mask or blue
    assert info(output.path).duration == pytest.approx(1.0, abs=FRAME)


def test_given_an_image_when_its_background_is_removed_then_the_corners_are_transparent(run: Run) -> None:
    [output], _ = run("removeImageBackground", {"image": url("photo.jpg")})
    assert output.mime_type == "image/png"
    assert alpha_at(output.path, 1, 1) == 0
    assert alpha_at(output.path, 200, 150) == 255


def test_given_speech_and_a_short_clip_when_lip_synced_then_the_clip_loops_for_the_speech(run: Run) -> None:
    # Given 2 s of sound (clip.mp4's track) for a 1 s silent clip
    [output], _ = run("lipSync", {"audioUrl": url("clip.mp4")}, [url("silent.mp4")])
    video = info(output.path)
    assert video.has_audio
    assert video.duration == pytest.approx(2.0, abs=2 * FRAME)


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        ("generate", {"prompt": "x", "aspectRatio": "2:1"}, "/params/aspectRatio must be one of"),
        ("generate", {"prompt": "x", "duration": 600}, "/params/duration must be a number from 1 to 60"),
        ("generate", {"prompt": "x", "resolution": "4k"}, "/params/resolution must be one of 480p, 720p, 1080p"),
        ("generateImage", {}, "generateImage needs params.prompt or params.image"),
        ("generateAudio", {"voiceId": "x"}, "this operation needs params.text"),
        ("generateAudio", {"text": 7}, "/params/text must be text"),
        ("removeBackground", {"video": url("blue.mp4"), "outputType": "blur"}, "/params/outputType must be one of"),
        ("lipSync", {"videoUrl": url("blue.mp4")}, "lipSync needs params.audioUrl"),
        (
            "lipSync",
            {"audioUrl": url("silent.mp4"), "videoUrl": url("blue.mp4")},
            "is a video without sound; lipSync needs its sound",
        ),
        (
            "generate",
            {"prompt": "x", "audio": url("silent.mp4")},
            "the input at /params/audio is a video without sound",
        ),
        ("transcribe", {"videoUrl": url("red.png")}, "is an image; transcribe needs audio or a video"),
    ],
)
def test_given_params_generation_cannot_use_when_run_then_a_sentence_says_why(
    run: Run, operation: str, params: dict, message: str
) -> None:
    with pytest.raises(MediaError) as failure:
        run(operation, params)
    assert message in str(failure.value)
