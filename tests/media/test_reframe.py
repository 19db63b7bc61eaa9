"""reframe on real files: every aspect ratio the SDK sends, by centre crop (default) or padding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_api.media import MediaError
from execution_api.media.reframe import ASPECT_RATIOS, reframed_size
from tests.media.conftest import Run, url
from tests.media.support import FRAME, frame, info


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_given_each_aspect_ratio_when_reframed_by_crop_then_the_picture_has_that_ratio(run: Run, ratio: str) -> None:
    # Given a 320x240 video with sound, chained (no input named: the dependency's output is used)
    # When
    [output], metadata = run("reframe", {"aspectRatio": ratio}, [url("clip2.mp4")])
    # Then the ratio holds to the even pixel, nothing is upscaled, length and sound are kept
    width, height = (int(n) for n in ratio.split(":"))
    reframed = info(output.path)
    assert reframed.width <= 320
    assert reframed.height <= 240
    assert reframed.width % 2 == 0
    assert reframed.height % 2 == 0
    assert reframed.width / reframed.height == pytest.approx(width / height, abs=0.02)
    assert reframed.duration == pytest.approx(1.0, abs=FRAME)
    assert reframed.has_audio
    assert metadata["fit"] == "crop"
    assert (output.width, output.height) == (reframed.width, reframed.height)


def test_given_a_phone_video_stored_turned_when_reframed_then_its_upright_size_is_used(run: Run) -> None:
    # Given a 320x240 picture with a display matrix turning it a quarter: it plays as 240x320
    assert (info(run.library / "portrait.mp4").width, info(run.library / "portrait.mp4").height) == (240, 320)
    # When cropped to 1:1, Then the square is 240 wide, from the upright picture
    [output], _ = run("reframe", {"aspectRatio": "1:1", "videoUrl": url("portrait.mp4")})
    assert (info(output.path).width, info(output.path).height) == (240, 240)


def test_given_pad_when_reframed_then_the_whole_picture_sits_on_black_bars(run: Run) -> None:
    # Given a blue 320x240 video padded to 9:16
    [output], _ = run("reframe", {"aspectRatio": "9:16", "fit": "pad", "videoUrl": url("blue.mp4")})
    # Then 320 wide, black above and blue in the middle
    picture = frame(output.path, 0.5)
    assert (picture.width, picture.height) == reframed_size(320, 240, (9, 16), "pad") == (320, 568)
    assert max(picture.pixel(160, 10)) < 30
    red, green, blue = picture.pixel(160, 284)
    assert blue > 200
    assert red < 40
    assert green < 40


@pytest.mark.parametrize(
    ("size", "ratio", "fit", "expected"),
    [
        ((1920, 1080), (9, 16), "crop", (606, 1080)),
        ((1920, 1080), (1, 1), "crop", (1080, 1080)),
        ((1080, 1920), (16, 9), "crop", (1080, 606)),
        ((1920, 1080), (9, 16), "pad", (1920, 3412)),
        ((1280, 720), (16, 9), "crop", (1280, 720)),
    ],
)
def test_reframed_sizes(size: tuple[int, int], ratio: tuple[int, int], fit: str, expected: tuple[int, int]) -> None:
    assert reframed_size(*size, ratio, fit) == expected


@pytest.mark.parametrize(
    ("params", "dependencies", "message"),
    [
        ({"aspectRatio": "5:4"}, [url("clip.mp4")], "/params/aspectRatio must be one of 16:9, 9:16"),
        ({"aspectRatio": "9:16"}, [], "reframe needs an input"),
        ({"aspectRatio": "9:16", "fit": "stretch"}, [url("clip.mp4")], "/params/fit must be one of crop, pad"),
        (
            {"aspectRatio": "9:16"},
            [url("tone.mp3")],
            "the input at /dependsOn/0 is audio; reframe needs a video or an image",
        ),
    ],
)
def test_given_what_reframe_cannot_use_when_run_then_a_sentence_says_why(
    run: Run, params: dict, dependencies: list[str], message: str
) -> None:
    with pytest.raises(MediaError) as failure:
        run("reframe", params, dependencies)
    assert message in str(failure.value)


@given(st.integers(16, 8000), st.integers(16, 8000), st.sampled_from(ASPECT_RATIOS), st.sampled_from(["crop", "pad"]))
def test_a_reframed_size_has_the_ratio_and_is_never_upscaled_by_crop(
    width: int, height: int, ratio: str, fit: str
) -> None:
    w, h = (int(n) for n in ratio.split(":"))
    out_w, out_h = reframed_size(width, height, (w, h), fit)
    assert out_w % 2 == 0
    assert out_h % 2 == 0
    assert abs(out_w / out_h - w / h) <= 2.5 / min(out_w, out_h) * max(1, w / h)  # even rounding only
    if fit == "crop":
        assert out_w <= max(width, 2)
        assert out_h <= max(height, 2)
    else:
        assert out_w >= width - 1
        assert out_h >= height - 1
