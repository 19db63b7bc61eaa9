"""Issue 25, point 5: the tooling stays in proportion to the product. `local/` (make run, make invoke, sam
local) plus `bench/` (the benchmarks, make load, make fuzz) hold at most half as many lines of Python as the
product they serve: the layers and the functions. Lines as `wc -l` counts them (newlines), blank and
comment lines too."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("layers", "functions")
TOOLING = ("local", "bench")
MOST = 0.5  # tooling lines per product line


def lines(folders: tuple[str, ...], root: Path = ROOT) -> int:
    return sum(path.read_bytes().count(b"\n") for folder in folders for path in (root / folder).rglob("*.py"))


def test_given_the_repository_when_counted_then_local_and_bench_are_at_most_half_the_product() -> None:
    # Given / When
    product, tooling = lines(PRODUCT), lines(TOOLING)
    # Then
    assert product > 5_000, "the product folders moved: update PRODUCT"
    assert tooling <= MOST * product, (
        f"local/ + bench/ hold {tooling} lines, over half the product's {product}: "
        "make the tooling smaller before adding to it"
    )


@pytest.mark.parametrize(("text", "expected"), [("", 0), ("a\n", 1), ("a\n\n# c\nb\n", 4), ("a\nb", 1)])
def test_given_a_file_when_counted_then_every_line_counts_as_wc_counts_them(
    tmp_path: Path, text: str, expected: int
) -> None:
    # Given one Python file in a folder, and a file of another kind beside it
    (tmp_path / "tool").mkdir()
    (tmp_path / "tool" / "x.py").write_text(text)
    (tmp_path / "tool" / "notes.md").write_text("not counted\n")
    # When / Then
    assert lines(("tool",), tmp_path) == expected
