"""layer on real files (OPERATIONS.md 3.2), and the placement arithmetic it relies on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_api.media import MediaError
from execution_api.media.placement import POSITIONS, Box, place
from tests.media.conftest import Run, make, url
from tests.media.support import FRAME, frame, info

W, H = 320, 240


def is_red(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] > 180 and rgb[1] < 70 and rgb[2] < 70


def is_blue(rgb: tuple[int, int, int]) -> bool:
    return rgb[2] > 180 and rgb[0] < 70 and rgb[1] < 70


def test_given_a_picture_in_picture_when_layered_then_it_sits_bottom_right_over_the_base(run: Run) -> None:
    # Given a blue video with sound as the base and a red image as a pip
    params = {"layers": [{"media": [url("blue.mp4")]}, {"media": [url("red.png")], "placement": "pip"}]}
    # When
    [output], metadata = run("layer", params)
    # Then the pip (80x60, 20 px from the corner) is red, the rest blue; sound and length are the base's
    picture = frame(output.path, 0.5)
    assert is_red(picture.pixel(W - 20 - 40, H - 20 - 30))
    assert is_blue(picture.pixel(40, 40))
    assert is_blue(picture.pixel(W - 10, H - 10))
    layered = info(output.path)
    assert (layered.width, layered.height) == (W, H)
    assert layered.duration == pytest.approx(1.0, abs=FRAME)
    assert layered.has_audio
    assert metadata["layerCount"] == 2


def test_given_a_chroma_keyed_layer_when_layered_then_its_green_shows_the_base(run: Run) -> None:
    # Given a green clip with a red square, keyed, over a blue base
    params = {
        "layers": [
            {"media": [url("blue.mp4")]},
            {"media": [url("keyed.mp4")], "placement": "full", "chromaKey": True},
        ]
    }
    [output], _ = run("layer", params)
    picture = frame(output.path, 0.5)
    # Then the red square stays and the green became transparent
    assert is_red(picture.pixel(160, 120))
    assert is_blue(picture.pixel(20, 20))


def test_given_an_output_duration_and_size_when_layered_then_the_canvas_and_length_follow(run: Run) -> None:
    # Given an image base held for 1.5 s on a 9:16 canvas, a video on top placed by a Tailwind string
    params = {
        "layers": [
            {"media": url("red.png")},
            {"media": [url("clip2.mp4")], "placement": "w-1/2 top"},
        ],
        "outputDuration": 1.5,
        "outputWidth": 180,
        "outputHeight": 320,
    }
    [output], metadata = run("layer", params)
    layered = info(output.path)
    assert (layered.width, layered.height) == (180, 320)
    assert layered.duration == pytest.approx(1.5, abs=FRAME)
    assert not layered.has_audio  # the main layer (0) is an image
    assert metadata["mainLayer"] == 0


def test_given_a_main_layer_when_layered_then_its_sound_and_length_are_the_outputs(run: Run) -> None:
    params = {
        "layers": [{"media": [url("silent.mp4")]}, {"media": [url("clip.mp4")], "placement": "pip", "main": True}]
    }
    [output], metadata = run("layer", params)
    layered = info(output.path)
    assert metadata["mainLayer"] == 1
    assert layered.has_audio
    assert layered.duration == pytest.approx(2.0, abs=FRAME)


def test_given_a_timeline_layer_when_layered_then_its_items_follow_each_other(run: Run) -> None:
    # Given a blue base (1 s) and a timeline: red for 0.5 s, then the keyed clip for the rest, in a quarter
    params = {
        "layers": [
            {"media": [url("blue.mp4")]},
            {
                "isTimeline": True,
                "timeline": [
                    {"media": [url("red.png")], "duration": 0.5, "placement": "top-left-quarter"},
                    {"media": [url("keyed.mp4")]},
                ],
            },
        ]
    }
    [output], _ = run("layer", params)
    # Then the top-left quarter is red first, then green at its corner; the rest stays blue
    early, late = frame(output.path, 0.2), frame(output.path, 0.8)
    assert is_red(early.pixel(40, 40))
    assert late.pixel(5, 5)[1] > 180
    assert is_red(late.pixel(80, 60))  # the keyed clip's red square, scaled into the quarter
    assert is_blue(early.pixel(W - 20, H - 20))


@pytest.mark.parametrize(
    ("placement", "size", "expected"),
    [
        (None, (100, 50), Box(W, H, 0, 0)),  # the original backend's layer job defaults to full
        ("center", (100, 50), Box(100, 50, 110, 95)),
        ("full", (100, 50), Box(W, H, 0, 0)),
        ("pip", (320, 240), Box(80, 60, 220, 160)),
        ("picture-in-picture", (320, 240), Box(80, 60, 220, 160)),
        ("w-1/4 bottom-right", (320, 240), Box(80, 60, 240, 180)),
        ("h-1/2 top-left", (320, 240), Box(160, 120, 0, 0)),
        ("bottom-center", (100, 50), Box(100, 50, 110, 190)),  # the original backend centred it vertically: a bug
        ("w-full bottom", (320, 240), Box(320, 240, 0, 0)),
        ("top-right-quarter", (320, 240), Box(160, 120, 160, 0)),
        ({"width": "50%", "position": {"x": 10, "y": "25%"}}, (320, 240), Box(160, 120, 10, 60)),
        ({"width": 100, "height": 40}, (320, 240), Box(100, 40, 110, 100)),
    ],
)
def test_placements(placement: object, size: tuple[int, int], expected: Box) -> None:
    assert place(placement, (W, H), size, "/params/layers/1/placement") == expected


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ("w-1/4 sideways", "unknown placement word 'sideways'"),
        ({"width": "iw/2"}, "/params/layers/1/placement/width must be pixels"),
        (7, "/params/layers/1/placement must be a placement name"),
    ],
)
def test_bad_placements(placement: object, message: str) -> None:
    with pytest.raises(MediaError) as failure:
        place(placement, (W, H), (10, 10), "/params/layers/1/placement")
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"layers": []}, "/params/layers must be a non-empty list"),
        ({"layers": [{"media": [url("tone.mp3")]}]}, "the input at /params/layers/0/media/0 is audio"),
        ({"layers": [{"media": [url("blue.mp4")]}], "mainLayer": 3}, "/params/mainLayer must be the index"),
        ({"layers": [{"isTimeline": True, "timeline": []}]}, "needs at least one regular layer"),
        (
            {
                "layers": [
                    {"media": [url("blue.mp4")]},
                    {"media": [url("keyed.mp4")], "chromaKey": True, "chromaKeyColor": "green"},
                ]
            },
            "/params/layers/1/chromaKeyColor must be a colour",
        ),
        (
            {
                "layers": [
                    {"media": [url("blue.mp4")]},
                    {
                        "isTimeline": True,
                        "timeline": [{"media": [url("red.png")], "duration": 5}, {"media": [url("red.png")]}],
                    },
                ]
            },
            "the items with a duration already fill the 1 s output",
        ),
    ],
    ids=["no-layers", "audio-layer", "bad-main", "only-timelines", "bad-key-colour", "timeline-overfull"],
)
def test_given_layers_that_cannot_work_when_run_then_a_sentence_says_why(run: Run, params: dict, message: str) -> None:
    with pytest.raises(MediaError) as failure:
        run("layer", params)
    assert message in str(failure.value)


@given(
    st.integers(16, 4000),
    st.integers(16, 4000),
    st.integers(2, 4000),
    st.integers(2, 4000),
    st.sampled_from(["w", "h"]),
    st.integers(1, 8),
    st.sampled_from(sorted(POSITIONS)),
)
def test_a_fractional_placement_stays_on_the_canvas_with_even_sizes(
    cw: int, ch: int, w: int, h: int, axis: str, denominator: int, position: str
) -> None:
    # Given a canvas, a layer, and a share of one side at most the whole
    box = place(f"{axis}-1/{denominator} {position}", (cw, ch), (w, h), "/p")
    # Then the size is even and the chosen side is that share; the layer's aspect ratio is kept
    assert box.width % 2 == 0
    assert box.height % 2 == 0
    share = cw / denominator if axis == "w" else ch / denominator
    assert abs((box.width if axis == "w" else box.height) - share) <= 2
    if axis == "w" and box.width <= cw and box.height <= ch:
        assert 0 <= box.x <= cw - box.width
        assert 0 <= box.y <= ch - box.height


def test_given_one_side_that_makes_the_other_too_large_then_the_job_fails_before_ffmpeg(run: Run) -> None:
    # Given a tall, narrow base (16x4000) and only outputWidth: the height would follow at 1,920,000 pixels
    make(run.library, "tall.png", "-f", "lavfi", "-i", "color=c=blue:s=16x4000", "-frames:v", "1")
    params = {"layers": [{"media": [url("tall.png")]}], "outputWidth": 7680}
    # When layered, then a sentence says why, and which params would work
    with pytest.raises(MediaError) as failure:
        run("layer", params)
    assert str(failure.value) == (
        "/params/outputWidth with the base layer's shape makes a 7680x1920000 canvas; "
        "at most 7680 on a side (give both outputWidth and outputHeight)"
    )
