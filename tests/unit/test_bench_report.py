"""The benchmarks' pages: tables rendered from rows of data into the marked sections of a hand-written page
(bench/report.py), and docs/benchmarks.md has exactly the sections `make bench` fills."""

from __future__ import annotations

import re

import pytest

from bench.report import fill, pairs, sections, table
from local.template import ROOT

PAGE = """# Title

Prose written by hand.

<!-- bench:first -->
| old |
<!-- /bench:first -->

More prose, kept.

<!-- bench:second -->
<!-- /bench:second -->
"""


def test_given_rows_of_data_when_rendered_then_each_row_is_a_line_under_the_titles() -> None:
    # Given two rows and two columns that read them
    rows = [{"jobs": 1, "ms": 4.7}, {"jobs": 10, "ms": 11.74}]
    # When
    lines = table([("Jobs", lambda r: r["jobs"]), ("Median", lambda r: f"{r['ms']} ms")], rows)
    # Then the first column is left-aligned, the others right-aligned
    assert lines == ["| Jobs | Median |", "| --- | ---: |", "| 1 | 4.7 ms |", "| 10 | 11.74 ms |"]
    assert table([("A", str), ("B", str)], [], "rl")[1] == "| ---: | --- |"
    assert pairs([("Date", "today")]) == ["|  |  |", "| --- | --- |", "| Date | today |"]


def test_given_a_page_when_filled_then_only_the_marked_sections_change() -> None:
    # When
    filled = fill(PAGE, {"first": ["| new |"], "second": ["| a |", "| b |"]})
    # Then the prose stays, the old table is gone, the markers stay for the next run
    assert filled == PAGE.replace("| old |\n", "| new |\n").replace(
        "<!-- bench:second -->\n", "<!-- bench:second -->\n| a |\n| b |\n"
    )
    assert sections(filled) == ["first", "second"]
    assert fill(filled, {"first": [], "second": []}) == PAGE.replace("| old |\n", "")


@pytest.mark.parametrize(
    ("page", "tables"),
    [
        (PAGE, {"first": []}),  # a section without a table
        (PAGE, {"first": [], "second": [], "third": []}),  # a table without a section
        (PAGE + "<!-- bench:first -->\n<!-- /bench:first -->\n", {"first": [], "second": []}),  # a twin
    ],
    ids=["section-without-table", "table-without-section", "twin-section"],
)
def test_given_a_page_and_tables_that_differ_when_filled_then_it_is_refused(
    page: str, tables: dict[str, list[str]]
) -> None:
    with pytest.raises(ValueError, match="page and tables differ"):
        fill(page, tables)


def test_given_docs_benchmarks_when_read_then_its_sections_are_the_ones_make_bench_fills() -> None:
    # Given the page and the benchmark's list of sections (importing bench.benchmarks needs moto, not a run)
    from bench.benchmarks import SECTIONS

    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    # Then each section is there once, and every table of measured figures is inside one
    assert sorted(sections(page)) == sorted(SECTIONS)
    outside = re.sub(r"<!-- bench:([\w-]+) -->.*?<!-- /bench:\1 -->", "", page, flags=re.DOTALL)
    assert "| Jobs |" not in outside


def test_given_media_results_when_rendered_then_they_fill_docs_media_benchmarks() -> None:
    # Given one operation's measured result, as bench.media's child process reports it
    from bench.media import tables

    result = {"seconds": 2.4, "floor": 2.25, "ffmpeg_runs": 1, "python_mb": 16.2, "ffmpeg_mb": 101.0}
    results = {
        "reframe 9:16": {**result, "output_seconds": 10.0, "output_mb": 0.93},
        "generateImage": {**result, "output_seconds": None, "output_mb": 0.01},
    }
    page = (ROOT / "docs" / "media-benchmarks.md").read_text(encoding="utf-8")
    # When
    filled = fill(page, tables(results, cold=0.1, load=4.6))
    # Then each operation is a row, with its cost per minute of output where it has a length
    assert "| reframe 9:16 | 2.40 s | 2.25 s | 1 | 101 + 16 MB | 10.0 s, 0.93 MB | $0.00057 |" in filled
    assert "| generateImage | 2.40 s | 2.25 s | 1 | 101 + 16 MB | 0.01 MB | n/a |" in filled
    assert "| Cold start of the worker's media part, beyond a bare interpreter | 100 ms |" in filled
    assert filled.split("## Recommendation")[1] == page.split("## Recommendation")[1]
