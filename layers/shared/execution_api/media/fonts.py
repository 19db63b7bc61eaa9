"""The font shipped in the media layer (Roboto, from the font-roboto package), copied next to a job's files
so libass finds it by family name on Lambda, where no system font exists."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil

FACES = ("Roboto-Regular.ttf", "Roboto-Bold.ttf")


def font_files() -> list[pathlib.Path]:
    spec = importlib.util.find_spec("font_roboto")  # found without importing it (it globs its folder on import)
    if spec is None or spec.origin is None:
        raise RuntimeError("the media layer's font (font-roboto) is not installed")
    folder = pathlib.Path(spec.origin).parent / "files"
    return [folder / face for face in FACES]


def install_fonts(workdir: pathlib.Path) -> str:
    """Copies the faces into workdir/fonts; returns the folder's name for the ass filter's fontsdir."""
    target = workdir / "fonts"
    target.mkdir(exist_ok=True)
    for face in font_files():
        shutil.copyfile(face, target / face.name)
    return target.name
