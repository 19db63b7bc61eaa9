"""The benchmarks' pages: Markdown tables rendered from rows of data into the marked sections of a page
whose prose is written by hand. A section is the lines between `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->`; a run replaces those lines and leaves everything else as it was."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Column = tuple[str, Callable[[Any], object]]  # a title, and the cell of a row

_SECTION = re.compile(r"(<!-- bench:([\w-]+) -->\n).*?(<!-- /bench:\2 -->)", re.DOTALL)


def table(columns: Sequence[Column], rows: Sequence[Any], align: str = "") -> list[str]:
    """One line per row; the first column left-aligned and the others right-aligned unless `align`
    ("l" or "r" per column) says otherwise."""
    align = align or "l" + "r" * (len(columns) - 1)
    return [
        "| " + " | ".join(title for title, _ in columns) + " |",
        "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |",
        *("| " + " | ".join(str(cell(row)) for _, cell in columns) + " |" for row in rows),
    ]


def pairs(rows: Sequence[tuple[str, object]]) -> list[str]:
    """A two-column table of names and values, without titles."""
    return table([("", lambda r: r[0]), ("", lambda r: r[1])], rows, "ll")


def sections(page: str) -> list[str]:
    return [match[2] for match in _SECTION.finditer(page)]


def fill(page: str, tables: Mapping[str, Sequence[str]]) -> str:
    """`page` with each marked section's lines replaced by `tables[name]`. A section without a table, or
    a table without a section, is an error: the page and the code that measures for it moved apart."""
    found = sections(page)
    missing, unused = sorted(set(found) - set(tables)), sorted(set(tables) - set(found))
    if missing or unused or len(found) != len(set(found)):
        raise ValueError(f"page and tables differ: no table for {missing}, no section for {unused}, or a twin")
    return _SECTION.sub(lambda m: m[1] + "".join(f"{line}\n" for line in tables[m[2]]) + m[3], page)


def ms(seconds: float) -> str:
    """Milliseconds with three significant digits or so: 4.70, 99.92, 6787.9."""
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds * 1000:.1f} ms"


def mark(met: bool) -> str:
    return "**met**" if met else "**not met**"
