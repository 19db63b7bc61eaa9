"""addSubtitles on real files, and the caption rules it burns (OPERATIONS.md 3.3): presets, grouping,
colours, highlighting. A caption counts as visible when the frame differs from the input's frame."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_api.media import MediaError
from execution_api.media.captions import PRESETS, Word, ass_colour, build_ass, group_words, resolve_style
from execution_api.media.captions_job import parse_words
from tests.media.conftest import Run, url
from tests.media.support import FRAME, frame, info

WORDS = [{"word": "Hello", "start": 0.5, "end": 0.9}, {"word": "world", "start": 1.2, "end": 1.6}]


def difference(run: Run, output: str, seconds: float) -> int:
    """Pixels of the output's frame that differ from the input's: the caption's, as the input is plain gray."""
    source = frame(run.library / "gray.mp4", seconds)
    return frame(run.workdir / output, seconds).changed_pixels(source)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_given_each_preset_when_captions_are_burned_then_words_show_only_in_their_time(run: Run, preset: str) -> None:
    # Given a plain gray video and two timed words
    params = {"videoUrl": url("gray.mp4"), "transcript": WORDS, "style": {"preset": preset}}
    # When
    [output], metadata = run("addSubtitles", params)
    # Then the frame differs from the input while a word is shown, and not before the first or after the last
    assert difference(run, output.path.name, 0.7) > 20
    assert difference(run, output.path.name, 1.4) > 20
    assert difference(run, output.path.name, 0.2) == 0
    assert difference(run, output.path.name, 1.9) == 0
    assert metadata["preset"] == preset
    assert metadata["wordCount"] == 2
    assert info(output.path).duration == pytest.approx(2.0, abs=FRAME)


def test_given_a_highlighted_caption_when_burned_then_it_stays_on_between_its_words(run: Run) -> None:
    # Given the story preset (3 words a caption, highlighted): both words are one caption
    params = {"videoUrl": url("gray.mp4"), "transcript": WORDS, "style": {"preset": "story"}}
    [output], _ = run("addSubtitles", params)
    # Then in the gap between the words (1.0 s) the caption is still shown
    assert difference(run, output.path.name, 1.05) > 20


def test_given_a_transcript_url_and_a_video_with_sound_when_burned_then_the_sound_is_kept(run: Run) -> None:
    # Given a transcript JSON as a transcribe job writes it, and the video as the dependency
    (run.library / "words.json").write_text(json.dumps(WORDS))
    [output], _ = run("addSubtitles", {"transcript": url("words.json")}, [url("clip.mp4")])
    captioned = info(output.path)
    assert captioned.has_audio
    assert captioned.audio_codec == "aac"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"videoUrl": url("gray.mp4")}, "addSubtitles needs a transcript"),
        ({"videoUrl": url("gray.mp4"), "transcript": []}, "must be a non-empty list of {word, start, end}"),
        (
            {"videoUrl": url("gray.mp4"), "transcript": [{"word": "a", "start": 2, "end": 1}]},
            "/params/transcript/0 must be",
        ),
        (
            {"videoUrl": url("gray.mp4"), "transcript": url("notes.txt")},
            "the transcript at /params/transcript is not JSON",
        ),
        (
            {"videoUrl": url("gray.mp4"), "transcript": WORDS, "style": {"preset": "karaoke"}},
            "/params/style/preset must be one of",
        ),
        (
            {"videoUrl": url("gray.mp4"), "transcript": WORDS, "style": {"primaryColor": "red"}},
            "/params/style/primaryColor must be a colour",
        ),
        (
            {"videoUrl": url("red.png"), "transcript": WORDS},
            "the input at /params/videoUrl is an image; addSubtitles needs a video",
        ),
    ],
    ids=["no-transcript", "empty", "end-before-start", "not-json", "unknown-preset", "bad-colour", "image"],
)
def test_given_what_captions_cannot_use_when_run_then_a_sentence_says_why(run: Run, params: dict, message: str) -> None:
    with pytest.raises(MediaError) as failure:
        run("addSubtitles", params)
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#FFCC00", "&H0000CCFF"),
        ("#fc0", "&H0000CCFF"),
        ("00FF00", "&H0000FF00"),
        ("&H80000000", "&H80000000"),
        ("&H00FFFF", "&H0000FFFF"),
    ],
)
def test_colours_become_ass_colours(value: str, expected: str) -> None:
    assert ass_colour(value, "color") == expected


def test_a_style_is_the_preset_overlaid_by_the_clients_fields() -> None:
    style = resolve_style({"preset": "youtube", "fontSize": 60, "wordsPerCaption": None})
    assert style["fontSize"] == 60
    assert style["wordsPerCaption"] == 5  # null keeps the preset's value
    assert resolve_style(None)["preset"] == "tiktok"
    assert resolve_style("minimal")["preset"] == "minimal"  # the SDK's legacy addSubtitles() string


def test_a_box_style_and_a_highlight_are_written_as_ass() -> None:
    words = [Word("one", 0.0, 0.4), Word("two", 0.5, 0.9)]
    youtube = build_ass(words, resolve_style({"preset": "youtube"}), 1920, 1080)
    assert "PlayResX: 1920\nPlayResY: 1080" in youtube
    assert ",Roboto,48,&H00FFFFFF," in youtube
    assert "Dialogue: 0,0:00:00.00,0:00:00.90,Caption,,0,0,0,,one two" in youtube
    story = build_ass(words, resolve_style({"preset": "story"}), 1080, 1920)
    assert "PlayResX: 1080\nPlayResY: 1920" in story
    assert "Dialogue: 0,0:00:00.00,0:00:00.50,Caption,,0,0,0,,{\\c&HFFFFFF&\\fscx115\\fscy115}one{\\r} two" in story


words_strategy = st.lists(
    st.tuples(st.text(alphabet="abcdefghij", min_size=1, max_size=12), st.floats(0, 0.5), st.floats(0, 2)),
    min_size=1,
    max_size=40,
)


@given(words_strategy, st.integers(1, 6), st.integers(10, 60))
def test_grouping_keeps_every_word_in_order_within_the_limits(raw: list, per: int, chars: int) -> None:
    words, clock = [], 0.0
    for text, gap, length in raw:
        clock += gap
        words.append(Word(text, clock, clock + length))
    style = {"wordsPerCaption": per, "maxCaptionChars": chars, "maxCaptionDuration": 3.0}
    groups = group_words(words, style)
    assert [w for group in groups for w in group] == words
    for group in groups:
        assert len(group) <= per
        assert len(group) == 1 or len(" ".join(w.text for w in group)) <= chars


def test_transcripts_are_read_sorted_and_may_be_wrapped_in_an_object() -> None:
    words = parse_words({"words": [{"word": " b ", "start": 1, "end": 2}, {"text": "a", "start": 0, "end": 1}]}, "/x")
    assert words == [Word("a", 0.0, 1.0), Word("b", 1.0, 2.0)]


def test_given_the_tiktok_preset_when_a_word_is_spoken_then_it_is_drawn_in_the_active_colour(run: Run) -> None:
    # Given a gray video, and tiktok's yellow for the active word
    [output], _ = run("addSubtitles", {"videoUrl": url("gray.mp4"), "transcript": WORDS})
    picture = frame(output.path, 0.7)
    yellow = [
        (x, y)
        for y in range(0, picture.height, 2)
        for x in range(0, picture.width, 2)
        if (lambda r, g, b: r > 190 and g > 190 and b < 90)(*picture.pixel(x, y))
    ]
    # Then yellow pixels are there, in the lower half (bottom-aligned, 250 of 1080 up)
    assert len(yellow) > 5
    assert all(y > picture.height // 2 for _, y in yellow)
