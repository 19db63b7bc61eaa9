"""No product function over 60 lines, no product module over 350: a newcomer reads each in one sitting.

The product code is what ships or runs the service: the layer (`layers/shared/execution_api`), the
functions, the local runtime (`local`) and the tools. `bench/` is a measuring tool, not product, and
is not held to these limits. Complexity is gated by ruff's C901 (pyproject.toml); this test gates size.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("layers/shared/execution_api", "functions", "local", "tools")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 350


def product_modules() -> list[Path]:
    return sorted(path for folder in PRODUCT for path in (ROOT / folder).rglob("*.py"))


def shape_problems(name: str, source: str) -> list[str]:
    """One line per function over MAX_FUNCTION_LINES and for a module over MAX_MODULE_LINES: file, name, lines."""
    problems = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        problems.append(f"{name}: module is {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(
                    f"{name}:{node.lineno} function {node.name} is {length} lines (at most {MAX_FUNCTION_LINES})"
                )
    return problems


def test_given_the_product_code_when_measured_then_no_function_or_module_is_too_long() -> None:
    # Given every product module
    modules = product_modules()
    assert len(modules) > 20, "the product folders moved: update PRODUCT"
    # When each is measured
    problems = [p for path in modules for p in shape_problems(str(path.relative_to(ROOT)), path.read_text())]
    # Then none is over the limits
    assert not problems, "split these:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("body_lines", "module_padding", "expected"),
    [
        (MAX_FUNCTION_LINES - 1, 0, []),
        (MAX_FUNCTION_LINES, 0, ["x.py:1 function too_long is 61 lines (at most 60)"]),
        (1, MAX_MODULE_LINES, ["x.py: module is 352 lines (at most 350)"]),
    ],
    ids=["function-of-60-lines", "function-of-61-lines", "module-of-352-lines"],
)
def test_given_an_offender_when_measured_then_the_message_names_file_function_and_lines(
    body_lines: int, module_padding: int, expected: list[str]
) -> None:
    # Given a module with one function of 1 + body_lines lines, then module_padding more lines
    source = "def too_long():\n" + "    x = 1\n" * body_lines + "y = 2\n" * module_padding
    # When / Then
    assert shape_problems("x.py", source) == expected
