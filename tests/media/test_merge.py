"""merge on real files (OPERATIONS.md 3.1): streams copied when the inputs already match, otherwise every
item normalised to the first picture's size at 30 fps; images shown for their duration; audio items mixed."""

from __future__ import annotations

import pytest

from execution_api.media import MediaError, ffmpeg
from tests.media.conftest import Run, url
from tests.media.support import FRAME, info


def test_given_videos_of_one_format_when_merged_then_streams_are_copied_and_lengths_add(run: Run) -> None:
    # Given two videos with the same codec, size, frame rate and audio format
    params = {"items": [{"url": url("clip.mp4"), "type": "video"}, {"url": url("clip2.mp4"), "type": "video"}]}
    # When
    [output], metadata = run("merge", params)
    # Then nothing was re-encoded, and the result lasts as long as both
    assert metadata["method"] == "copy"
    merged = info(output.path)
    assert merged.duration == pytest.approx(3.0, abs=2 * FRAME)  # AAC priming may add under a frame per join
    assert (merged.width, merged.height, merged.video_codec, merged.audio_codec) == (320, 240, "h264", "aac")
    assert output.mime_type == "video/mp4"
    assert output.duration_seconds == merged.duration


def test_given_mixed_items_when_merged_then_all_are_normalised_to_the_first_picture(run: Run) -> None:
    # Given a video, an image shown 1.5 s, and a smaller silent video at 25 fps
    params = {
        "items": [
            {"url": url("clip.mp4"), "type": "video"},
            {"url": url("red.png"), "type": "image", "duration": 1.5},
            {"url": url("small.mp4"), "type": "video"},
        ]
    }
    # When
    [output], metadata = run("merge", params)
    # Then re-encoded at the first item's size and 30 fps, as long as its parts, sound kept (silence elsewhere)
    assert metadata == {"operation": "merge", "method": "re-encode", "itemCount": 3, "audioCount": 0}
    merged = info(output.path)
    assert (merged.width, merged.height, merged.fps) == (320, 240, 30.0)
    assert merged.duration == pytest.approx(2 + 1.5 + 1, abs=FRAME)
    assert merged.has_audio


def test_given_an_animated_gif_called_an_image_when_merged_then_it_plays_as_a_video(run: Run) -> None:
    # Given what the SDK sends for a .gif: type image
    [output], _ = run("merge", {"items": [{"url": url("clip2.mp4")}, {"url": url("anim.gif"), "type": "image"}]})
    # Then it plays for its own length (0.5 s), not an image's default 1 s
    assert info(output.path).duration == pytest.approx(1.5, abs=FRAME)


def test_given_a_duration_when_merged_then_the_video_is_trimmed(run: Run) -> None:
    # Given a 2 s video trimmed to 0.5 s, then a 1 s video
    params = {"items": [{"url": url("clip.mp4"), "duration": 0.5}, {"url": url("clip2.mp4")}]}
    # When
    [output], metadata = run("merge", params)
    # Then
    assert metadata["method"] == "re-encode"
    assert info(output.path).duration == pytest.approx(1.5, abs=FRAME)


def test_given_an_audio_item_over_silent_videos_when_merged_then_sound_is_mixed_in_and_cut_at_the_end(run: Run) -> None:
    # Given silent pictures (1 s) and a 1 s tone starting at 0.5 s
    params = {
        "items": [
            {"url": url("silent.mp4"), "type": "video"},
            {"url": url("tone.mp3"), "type": "audio", "offset": 0.5, "volume": 0.5},
        ]
    }
    # When
    [output], metadata = run("merge", params)
    # Then the output has sound and still lasts as long as the pictures
    assert metadata["audioCount"] == 1
    merged = info(output.path)
    assert merged.has_audio
    assert merged.duration == pytest.approx(1.0, abs=FRAME)


def test_given_silent_items_only_when_merged_then_the_output_has_no_sound(run: Run) -> None:
    [output], _ = run("merge", {"items": [{"url": url("silent.mp4")}, {"url": url("red.png"), "type": "image"}]})
    merged = info(output.path)
    assert not merged.has_audio
    assert merged.duration == pytest.approx(2.0, abs=FRAME)


def test_given_no_items_when_merged_then_the_dependencies_outputs_are_joined_in_order(run: Run) -> None:
    [output], metadata = run("merge", {}, [url("clip.mp4"), url("clip2.mp4")])
    assert metadata["itemCount"] == 2
    assert run.fetched == [url("clip.mp4"), url("clip2.mp4")]
    assert info(output.path).duration == pytest.approx(3.0, abs=2 * FRAME)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"items": [{"url": url("tone.mp3"), "type": "audio"}]}, "merge needs at least one video or image item"),
        (
            {"items": [{"url": url("red.png"), "type": "video"}]},
            "the input at /params/items/0/url is an image; merge needs a video",
        ),
        ({"items": [{"url": url("clip.mp4"), "type": "gif"}]}, "/params/items/0/type must be video, image or audio"),
        ({"items": [{"url": url("clip.mp4"), "duration": -1}]}, "/params/items/0/duration must be a number"),
        ({"items": []}, "/params/items must be a non-empty list"),
        ({"items": [42]}, "/params/items/0 must be an object with a url"),
        ({}, "merge needs params.items"),
    ],
    ids=["audio-only", "image-as-video", "unknown-type", "negative-duration", "empty", "not-an-object", "nothing"],
)
def test_given_items_that_cannot_merge_when_run_then_a_sentence_says_why(run: Run, params: dict, message: str) -> None:
    with pytest.raises(MediaError) as failure:
        run("merge", params)
    assert message in str(failure.value)


def test_given_work_that_lasts_when_merged_then_heartbeats_are_sent_while_ffmpeg_runs(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given heartbeats offered every 10 ms (2 s in production)
    monkeypatch.setattr(ffmpeg, "HEARTBEAT_EVERY_S", 0.01)
    # When a re-encoding merge runs
    run("merge", {"items": [{"url": url("clip.mp4")}, {"url": url("small.mp4")}]})
    # Then the job's heartbeat was called during the work
    assert run.heartbeats > 0
