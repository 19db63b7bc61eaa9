"""Captions as ASS subtitles for libass (OPERATIONS.md 3.3): the five presets, the style overrides a client
sends, word grouping, and active-word highlighting. Pure: words and a style in, the text of an .ass file out.

Where the original backend erred this does better: the script's resolution follows the video's aspect ratio (short
side 1080, so preset sizes mean what they did on a 1080x1920 frame), and a highlighted caption stays on
screen between its words instead of blinking off in each gap."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from execution_api.media.contract import MediaError

FONT_FAMILY = "Roboto"  # the one family shipped in the media layer: every requested font is drawn with it
REFERENCE_SHORT_SIDE = 1080

PRESETS: dict[str, dict[str, Any]] = {
    "tiktok": {
        "fontFamily": "Arial",
        "fontSize": 80,
        "fontWeight": "bold",
        "primaryColor": "&H00FFFFFF",
        "outlineColor": "&H00000000",
        "outlineWidth": 3,
        "shadowDistance": 0,
        "alignment": "2",
        "marginV": 250,
        "wordsPerCaption": 1,
        "highlightActiveWord": True,
        "activeWordColor": "&H0000FFFF",
        "inactiveWordColor": "&H00AAAAAA",
        "activeWordScale": 1.2,
    },
    "youtube": {
        "fontFamily": "Arial",
        "fontSize": 48,
        "primaryColor": "&H00FFFFFF",
        "backgroundColor": "&H80000000",
        "padding": 10,
        "alignment": "2",
        "marginV": 100,
        "wordsPerCaption": 5,
    },
    "story": {
        "fontFamily": "Courier New",
        "fontSize": 52,
        "primaryColor": "&H00FFFF00",
        "backgroundColor": "&H40000000",
        "outlineWidth": 0,
        "alignment": "5",
        "marginV": 10,
        "wordsPerCaption": 3,
        "highlightActiveWord": True,
        "activeWordColor": "&H00FFFFFF",
        "inactiveWordColor": "&H00888888",
        "activeWordScale": 1.15,
    },
    "minimal": {
        "fontFamily": "Helvetica",
        "fontSize": 42,
        "primaryColor": "&H00DDDDDD",
        "outlineWidth": 2,
        "alignment": "2",
        "marginV": 80,
        "wordsPerCaption": 4,
    },
    "cinematic": {
        "fontFamily": "Times New Roman",
        "fontSize": 40,
        "primaryColor": "&H00E0E0E0",
        "outlineWidth": 0,
        "shadowDistance": 2,
        "alignment": "2",
        "marginV": 120,
        "wordsPerCaption": 6,
    },
}
DEFAULT_PRESET = "tiktok"
COLOUR_KEYS = {"color", "primaryColor", "outlineColor", "backgroundColor", "activeWordColor", "inactiveWordColor"}
LEGACY_STYLES = {"default": "tiktok", "bold": "tiktok", "minimal": "minimal"}  # the SDK's addSubtitles() strings
BASE = {
    "fontSize": 20,
    "primaryColor": "&H00FFFFFF",
    "outlineColor": "&H00000000",
    "outlineWidth": 2,
    "shadowDistance": 0,
    "alignment": "2",
    "marginV": 10,
    "marginL": 10,
    "marginR": 10,
    "wordsPerCaption": 3,
    "maxCaptionDuration": 3.0,
    "maxCaptionChars": 50,
    "activeWordScale": 1.0,
}


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


def resolve_style(style: Any) -> dict[str, Any]:
    """The preset (default tiktok) overlaid by every field the client sent."""
    if style is None:
        style = {}
    if isinstance(style, str):
        style = {"preset": LEGACY_STYLES.get(style, style)}
    if not isinstance(style, Mapping):
        raise MediaError('/params/style must be an object such as {"preset": "youtube"}')
    preset = style.get("preset", DEFAULT_PRESET)
    if preset not in PRESETS:
        raise MediaError(f"/params/style/preset must be one of {', '.join(PRESETS)}")
    resolved = {**BASE, **PRESETS[preset], **{k: v for k, v in style.items() if v is not None}, "preset": preset}
    for key in COLOUR_KEYS & resolved.keys():  # every colour is checked, used or not
        ass_colour(resolved[key], key)
    return resolved


def ass_colour(value: Any, key: str) -> str:
    """#RRGGBB, #RGB and RRGGBB become &H00BBGGRR; &HAABBGGRR (or &HBBGGRR) passes through."""
    text = str(value).strip()
    if re.fullmatch(r"&H[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?&?", text):
        digits = text[2:].rstrip("&").upper()
        return "&H" + digits.rjust(8, "0")
    hexa = text.removeprefix("#")
    if re.fullmatch(r"[0-9A-Fa-f]{3}", hexa):
        hexa = "".join(c * 2 for c in hexa)
    if not re.fullmatch(r"[0-9A-Fa-f]{6}", hexa):
        raise MediaError(f"/params/style/{key} must be a colour such as #FFCC00 or &H0000FFFF")
    return f"&H00{hexa[4:6]}{hexa[2:4]}{hexa[0:2]}".upper()


def group_words(words: Sequence[Word], style: Mapping[str, Any]) -> list[list[Word]]:
    """Captions of at most wordsPerCaption words, maxCaptionDuration seconds and maxCaptionChars characters."""
    per = max(1, int(_number(style, "wordsPerCaption")))
    longest, chars = _number(style, "maxCaptionDuration"), _number(style, "maxCaptionChars")
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        text = " ".join(w.text for w in current)
        if current and (
            len(current) >= per or word.end - current[0].start > longest or len(text) + len(word.text) + 1 > chars
        ):
            groups.append(current)
            current = []
        current.append(word)
    if current:
        groups.append(current)
    return groups


def build_ass(words: Sequence[Word], style: Mapping[str, Any], width: int, height: int) -> str:
    """The whole .ass file for a video of width x height."""
    play_x, play_y = _play_res(width, height)
    highlight = bool(style.get("highlightActiveWord")) and style.get("activeWordColor") is not None
    events = []
    for group in group_words(words, style):
        if highlight:
            events += _highlighted(group, style)
        else:
            events.append((group[0].start, group[-1].end, " ".join(_escape(w.text) for w in group)))
    header = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {play_x}",
        f"PlayResY: {play_y}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
        "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
        "MarginR, MarginV, Encoding",
        _style_line(style, highlight),
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    lines = [f"Dialogue: 0,{_time(s)},{_time(e)},Caption,,0,0,0,,{text}" for s, e, text in events if e > s]
    return "\n".join(header + lines) + "\n"


def _highlighted(group: list[Word], style: Mapping[str, Any]) -> list[tuple[float, float, str]]:
    """One event per word, showing the whole caption with that word coloured (and scaled)."""
    colour = ass_colour(style["activeWordColor"], "activeWordColor")[4:]  # \c takes &HBBGGRR&, no alpha
    scale = round(_number(style, "activeWordScale") * 100)
    sized = f"\\fscx{scale}\\fscy{scale}" if scale != 100 else ""
    events = []
    for i, word in enumerate(group):
        end = group[i + 1].start if i + 1 < len(group) else word.end
        shown = [
            f"{{\\c&H{colour}&{sized}}}{_escape(w.text)}{{\\r}}" if j == i else _escape(w.text)
            for j, w in enumerate(group)
        ]
        events.append((word.start, end, " ".join(shown)))
    return events


def _style_line(style: Mapping[str, Any], highlight: bool) -> str:
    primary_key = "inactiveWordColor" if highlight and style.get("inactiveWordColor") else "primaryColor"
    primary = ass_colour(style.get(primary_key) or style.get("color") or "&H00FFFFFF", primary_key)
    outline = ass_colour(style.get("outlineColor", "&H00000000"), "outlineColor")
    back_value = style.get("backgroundColor")
    back = ass_colour(back_value, "backgroundColor") if back_value else "&H80000000"
    box = style.get("borderStyle") == 3 or (back_value is not None and style.get("borderStyle") is None)
    border = (
        _number(style, "padding") if box and "padding" in style else (10 if box else _number(style, "outlineWidth"))
    )
    weight = style.get("fontWeight")
    bold = -1 if weight == "bold" or (isinstance(weight, int | float) and weight >= 600) else 0
    alignment = str(style.get("alignment", "2"))
    if alignment not in {str(n) for n in range(1, 10)}:
        raise MediaError("/params/style/alignment must be 1 to 9 (numpad positions; 2 is bottom centre)")
    size = _number(style, "fontSize")
    margins = [round(_number(style, key)) for key in ("marginL", "marginR", "marginV")]
    fields = [
        "Caption",
        FONT_FAMILY,
        f"{size:g}",
        primary,
        "&H000000FF",
        outline,
        back,
        str(bold),
        "0",
        "0",
        "0",
        "100",
        "100",
        "0",
        "0",
        "3" if box else "1",
        f"{border:g}",
        f"{_number(style, 'shadowDistance'):g}",
        alignment,
        *map(str, margins),
        "1",
    ]
    return "Style: " + ",".join(fields)


def _number(style: Mapping[str, Any], key: str) -> float:
    value = style.get(key, BASE.get(key, 0))
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 10_000
    ):
        raise MediaError(f"/params/style/{key} must be a number from 0 to 10000")
    return float(value)


def _play_res(width: int, height: int) -> tuple[int, int]:
    if width >= height:
        return round(REFERENCE_SHORT_SIDE * width / height), REFERENCE_SHORT_SIDE
    return REFERENCE_SHORT_SIDE, round(REFERENCE_SHORT_SIDE * height / width)


def _escape(text: str) -> str:
    """Words are text, never override tags or line breaks."""
    return " ".join(text.replace("\\", "/").replace("{", "(").replace("}", ")").split())


def _time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6_000)
    return f"{hours}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"
