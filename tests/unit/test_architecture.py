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


DYNAMIC = "<a name computed at run time>"  # import_module(name): what it imports cannot be checked


def module_name(path: Path) -> str:
    """A layer module's name below execution_api: engine/selection.py is engine.selection, engine/__init__.py
    engine.__init__ (so that a module's package is always all but its last part)."""
    return ".".join(path.relative_to(LAYER).with_suffix("").parts)


def import_target(node: ast.Call) -> str | None:
    """The module an `importlib.import_module(...)` or `__import__(...)` call names, or DYNAMIC; None for any
    other call. Of an f-string only its constant start is read ("execution_api.media.{name}")."""
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return None
    target = node.args[0]
    if isinstance(target, ast.Constant) and isinstance(target.value, str):
        return target.value
    if isinstance(target, ast.JoinedStr) and target.values and isinstance(target.values[0], ast.Constant):
        start = str(target.values[0].value)
        return start.rsplit(".", 1)[0] if start.count(".") >= 2 else DYNAMIC  # its package is in the constant
    return DYNAMIC


def imported_packages(source: str, module: str) -> Iterator[tuple[str, int]]:
    """The execution_api packages a module imports, anywhere in it (a lazy import counts too): absolute and
    relative imports, and the modules importlib.import_module is given by name."""
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:  # from . import x, from ..providers import y
            base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else None
            if base is None:
                yield "<above execution_api>", node.lineno
                continue
            parts = [*base, *(node.module.split(".") if node.module else [])]
            for first in [parts[0]] if parts else [alias.name for alias in node.names]:
                yield first, node.lineno
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != "execution_api" else [f"execution_api.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Call) and (target := import_target(node)) is not None:
            if target == DYNAMIC:
                yield DYNAMIC, node.lineno
                continue
            names = [target]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "execution_api" and len(parts) > 1:
                yield parts[1], node.lineno


def crossings(module: str, source: str) -> list[str]:
    """Each import of `module` (given its source) that docs/architecture.md's table does not allow."""
    package = module.split(".")[0]
    allowed = allowed_imports()[package] | {package}
    return [
        f"{module}:{line} imports execution_api.{imported}"
        for imported, line in imported_packages(source, module)
        if imported not in allowed and (module, imported) not in LAZY_EXCEPTIONS
    ]


def test_the_table_names_every_package_and_only_them() -> None:
    assert sorted(allowed_imports()) == packages()


def test_the_layer_holds_only_packages() -> None:
    loose = sorted(p.name for p in LAYER.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"a module belongs in the package of its capability: {loose}"


@pytest.mark.parametrize("package", packages())
def test_a_package_imports_only_what_the_table_allows(package: str) -> None:
    found = [
        line
        for path in sorted((LAYER / package).rglob("*.py"))
        for line in crossings(module_name(path), path.read_text())
    ]
    assert found == [], "imports docs/architecture.md does not allow:\n" + "\n".join(found)


# Each way of importing is seen: a synthetic module in the engine (which may not import providers or intake).
@pytest.mark.parametrize(
    ("module", "source", "crossing"),
    [
        ("engine.x", "from execution_api.providers.wiring import provider_executor", "providers"),
        ("engine.x", "from execution_api import intake", "intake"),
        ("engine.x", "import execution_api.providers.wiring", "providers"),
        ("engine.x", "def lazy():\n    from execution_api.providers import wiring", "providers"),
        ("engine.x", "from ..providers import wiring", "providers"),
        ("engine.x", "from .. import providers", "providers"),
        ("engine.__init__", "from ..intake.rules import check_plan", "intake"),
        ("engine.x", "from ... import outside", "<above execution_api>"),
        ("engine.x", "import importlib\nimportlib.import_module('execution_api.providers.wiring')", "providers"),
        ("engine.x", "from importlib import import_module\nimport_module(f'execution_api.intake.{name}')", "intake"),
        ("engine.x", "__import__('execution_api.providers')", "providers"),
        ("engine.x", "importlib.import_module(f'execution_api.{name}')", DYNAMIC),
        ("engine.x", "importlib.import_module(name)", DYNAMIC),
    ],
)
def test_each_way_of_importing_a_package_the_table_forbids_is_found(module: str, source: str, crossing: str) -> None:
    assert crossings(module, source) == [f"{module}:{source.count(chr(10)) + 1} imports execution_api.{crossing}"]


@pytest.mark.parametrize(
    "source",
    [
        "from . import params",
        "from .params import output_url",
        "from ..storage import keys",
        "from .. import media",
        "importlib.import_module('execution_api.media')",
        "importlib.import_module(f'execution_api.media.{name}')",
        "importlib.import_module('json')",
    ],
)
def test_an_import_the_table_allows_passes(source: str) -> None:
    assert crossings("engine.x", source) == []


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
    source = (LAYER / "engine" / "selection.py").read_text()
    tree = ast.parse(source)
    in_functions = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
    }
    at_import_time = [
        name
        for node in ast.walk(tree)
        if id(node) not in in_functions and isinstance(node, ast.Import | ast.ImportFrom)
        for name in ([node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names])
    ]
    assert not [name for name in at_import_time if name.startswith("execution_api.providers")]
    assert any(module == "providers" for module, _ in imported_packages(source, "engine.selection"))
