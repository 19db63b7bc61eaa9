"""The media layer (layers/media): built by its Makefile for Lambda's platform from a hashed lock, the same
versions in the dev environment, and never loaded by the API functions (their cold start must not grow)."""

from __future__ import annotations

import ast
import re
from importlib.metadata import version
from pathlib import Path

from execution_api.media.fonts import font_files
from local.template import ROOT

LAYER = ROOT / "layers" / "media"
API_FUNCTIONS = (
    "submit_execution",
    "execution_status",
    "cancel_execution",
    "authorizer",
    "webhook_enqueue",
    "webhook_sender",
    "starter",
    "sweeper",
)


def pins(text: str) -> dict[str, str]:
    return {m[1].lower(): m[2] for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)}


def test_the_media_layer_is_built_from_its_hashed_lock_for_lambdas_platform() -> None:
    makefile = (LAYER / "Makefile").read_text()
    assert re.search(r"^build-MediaLayer:", makefile, re.MULTILINE)
    for flag in (
        "--platform manylinux_2_28_aarch64",
        "--python-version 3.13",
        "--prefer-binary",  # font-roboto is published as an sdist only
        "--require-hashes",
        "-r requirements-lock.txt",
        "--invalidation-mode unchecked-hash",
    ):
        assert flag in makefile, flag
    lock = (LAYER / "requirements-lock.txt").read_text()
    assert pins(lock) == pins((LAYER / "requirements.txt").read_text())
    for block in re.split(r"\n(?=[A-Za-z])", lock.split("\n", 2)[2]):
        assert "--hash=sha256:" in block, block


def test_the_dev_environment_installs_the_layers_versions() -> None:
    assert "-r layers/media/requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    for name, pinned in pins((LAYER / "requirements.txt").read_text()).items():
        assert version(name) == pinned, name


def test_the_font_the_captions_name_is_shipped() -> None:
    assert [path.name for path in font_files()] == ["Roboto-Regular.ttf", "Roboto-Bold.ttf"]
    assert all(path.stat().st_size > 100_000 for path in font_files())


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # from execution_api import media
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_api_functions_and_the_shared_code_never_import_the_media_package() -> None:
    shared = ROOT / "layers" / "shared" / "execution_api"
    modules = [p for p in shared.rglob("*.py") if "media" not in p.relative_to(shared).parts[:1]]
    modules = [p for p in modules if p.relative_to(shared).parts[0] != "engine"]  # workers may
    modules += [p for name in API_FUNCTIONS for p in (ROOT / "functions" / name).rglob("*.py")]
    offenders = [
        str(p.relative_to(ROOT))
        for p in modules
        if any(
            name == "execution_api.media" or name.startswith(("execution_api.media.", "imageio_ffmpeg"))
            for name in imports_of(p)
        )
    ]
    assert len(modules) > 25
    assert offenders == []
