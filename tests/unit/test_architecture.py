"""The layer's packages import only what docs/architecture.md allows, each says what it owns, and no module
name repeats its package's."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "execution_api"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# The one import that crosses the table on purpose (docs/architecture.md says why).
LAZY_EXCEPTIONS = {("engine.selection", "providers")}


def allowed_imports() -> dict[str, set[str]]:
    """The table of docs/architecture.md: package -> the packages it may import."""
    table: dict[str, set[str]] = {}
    for line in ARCHITECTURE.read_text().splitlines():
        row = re.fullmatch(r"\| `(\w+)` \| .+ \| (.+) \|", line)
        if row:
            names = row[2].strip()
            table[row[1]] = set() if names == "nothing" else {name.strip() for name in names.split(",")}
    return table


def packages() -> list[str]:
    return sorted(p.name for p in LAYER.iterdir() if (p / "__init__.py").is_file())


def imported_packages(path: Path) -> Iterator[tuple[str, int]]:
    """The execution_api packages a module imports, anywhere in it (a lazy import counts too)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != "execution_api" else [f"execution_api.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "execution_api" and len(parts) > 1:
                yield parts[1], node.lineno


def test_the_table_names_every_package_and_only_them() -> None:
    assert sorted(allowed_imports()) == packages()


def test_the_layer_holds_only_packages() -> None:
    loose = sorted(p.name for p in LAYER.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"a module belongs in the package of its capability: {loose}"


@pytest.mark.parametrize("package", packages())
def test_a_package_imports_only_what_the_table_allows(package: str) -> None:
    allowed = allowed_imports()[package] | {package}
    crossings = []
    for path in sorted((LAYER / package).rglob("*.py")):
        module = ".".join(path.relative_to(LAYER).with_suffix("").parts)
        for imported, line in imported_packages(path):
            if imported not in allowed and (module, imported) not in LAZY_EXCEPTIONS:
                crossings.append(f"{module}:{line} imports execution_api.{imported}")
    assert crossings == [], "imports docs/architecture.md does not allow:\n" + "\n".join(crossings)


@pytest.mark.parametrize("package", packages())
def test_a_package_says_what_it_owns_and_may_import(package: str) -> None:
    docstring = ast.get_docstring(ast.parse((LAYER / package / "__init__.py").read_text())) or ""
    assert len(docstring) > 80, f"{package}/__init__.py: one paragraph on what the package owns"
    assert "import" in docstring, f"{package}/__init__.py: say what the package may import"


@pytest.mark.parametrize("package", packages())
def test_no_module_name_repeats_its_package(package: str) -> None:
    stem = package.rstrip("s")
    prefixed = [p.name for p in (LAYER / package).glob("*.py") if p.stem.startswith((f"{package}_", f"{stem}_"))]
    assert prefixed == []


def test_the_exception_is_still_lazy() -> None:
    """engine.selection may reach providers only from inside a function, never at module level."""
    tree = ast.parse((LAYER / "engine" / "selection.py").read_text())
    top_level = [n.module or "" for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert not [module for module in top_level if module.startswith("execution_api.providers")]
    assert any(module == "providers" for module, _ in imported_packages(LAYER / "engine" / "selection.py"))
