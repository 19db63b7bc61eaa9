"""Where a layer sits on the canvas (OPERATIONS.md 3.2): `full` (the default), `center`, `pip`, Tailwind-like strings
("w-1/4 bottom-right"), the SDK's quarter names ("top-left-quarter") and custom objects
({width, height, position: {x, y}} in pixels or "50%"). Pure arithmetic on sizes: the canvas W x H and the
layer's own w x h in, its drawn size and top-left corner out (sizes even, aspect kept unless `full`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from execution_api.media.contract import MediaError
from execution_api.media.inputs import even

PIP_MARGIN = 20
POSITIONS = {  # token -> (x, y) as fractions of the free space (W - w, H - h)
    "top-left": (0.0, 0.0),
    "top": (0.5, 0.0),
    "top-center": (0.5, 0.0),
    "top-right": (1.0, 0.0),
    "left": (0.0, 0.5),
    "center-left": (0.0, 0.5),
    "center": (0.5, 0.5),
    "right": (1.0, 0.5),
    "center-right": (1.0, 0.5),
    "bottom-left": (0.0, 1.0),
    "bottom": (0.5, 1.0),
    "bottom-center": (0.5, 1.0),
    "bottom-right": (1.0, 1.0),
}
_FRACTION = re.compile(r"^([wh])-(?:(\d+)/(\d+)|(full))$")


@dataclass(frozen=True)
class Box:
    width: int
    height: int
    x: int
    y: int


def place(placement: Any, canvas: tuple[int, int], size: tuple[int, int], pointer: str) -> Box:
    W, H = canvas  # the names of OPERATIONS.md's placement table
    if placement == "center":
        return _at(size, canvas, POSITIONS["center"])
    if placement is None or placement == "full":  # what the original backend's layer job defaults to
        return Box(W, H, 0, 0)
    if placement in ("pip", "picture-in-picture"):
        w, h = _fit(size, (W // 4, H // 4))
        return Box(w, h, W - w - PIP_MARGIN, H - h - PIP_MARGIN)
    if isinstance(placement, Mapping):
        return _custom(placement, canvas, size, pointer)
    if not isinstance(placement, str):
        raise MediaError(f'{pointer} must be a placement name, a string such as "w-1/4 bottom-right" or an object')
    text = placement.strip().lower()
    if text.endswith("-quarter") and text.removesuffix("-quarter") in POSITIONS:
        return _at(_fit(size, (W // 2, H // 2)), canvas, POSITIONS[text.removesuffix("-quarter")])
    return _tailwind(text, canvas, size, pointer)


def _tailwind(text: str, canvas: tuple[int, int], size: tuple[int, int], pointer: str) -> Box:
    width = height = None
    position = POSITIONS["center"]
    for token in text.split():
        fraction = _FRACTION.match(token)
        if fraction:
            axis, top, bottom, full = fraction.groups()
            share = 1.0 if full else int(top) / max(int(bottom), 1)
            if axis == "w":
                width = canvas[0] * share
            else:
                height = canvas[1] * share
        elif token in POSITIONS:
            position = POSITIONS[token]
        else:
            raise MediaError(
                f"{pointer} has an unknown placement word {token!r}; use w-1/4, h-1/2 and e.g. bottom-right"
            )
    return _at(_sized(size, width, height), canvas, position)


def _custom(spec: Mapping[str, Any], canvas: tuple[int, int], size: tuple[int, int], pointer: str) -> Box:
    width = _length(spec.get("width"), canvas[0], f"{pointer}/width")
    height = _length(spec.get("height"), canvas[1], f"{pointer}/height")
    drawn = _sized(size, width, height)
    position = spec.get("position") or {}
    if not isinstance(position, Mapping):
        raise MediaError(f"{pointer}/position must be an object {{x, y}}")
    x = _length(position.get("x"), canvas[0], f"{pointer}/position/x")
    y = _length(position.get("y"), canvas[1], f"{pointer}/position/y")
    centred = _at(drawn, canvas, POSITIONS["center"])
    return Box(drawn[0], drawn[1], round(x) if x is not None else centred.x, round(y) if y is not None else centred.y)


def _length(value: Any, whole: int, pointer: str) -> float | None:
    """Pixels (a number) or a share of the canvas ("25%")."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 16_384:
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?%", value.strip()):
        return whole * float(value.strip()[:-1]) / 100
    raise MediaError(f'{pointer} must be pixels (a number) or a percentage such as "50%"')


def _sized(size: tuple[int, int], width: float | None, height: float | None) -> tuple[int, int]:
    """Both given: that size; one given: the other follows the aspect ratio; none: the original size."""
    w, h = size
    if width is not None and height is not None:
        return even(width), even(height)
    if width is not None:
        return even(width), even(width * h / w)
    if height is not None:
        return even(height * w / h), even(height)
    return even(w), even(h)


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / size[0], box[1] / size[1])
    return even(size[0] * scale), even(size[1] * scale)


def _at(size: tuple[int, int], canvas: tuple[int, int], position: tuple[float, float]) -> Box:
    w, h = size
    return Box(w, h, round((canvas[0] - w) * position[0]), round((canvas[1] - h) * position[1]))
