"""Only the storage package speaks DynamoDB's item shapes (issue 24 point 2): outside it, no code of the layer
or of a function reads a typed attribute value (`item["status"]["S"]`) or writes one (`{"S": ...}`), names a
key (`"EXECUTION"`, `"JOB#..."`, `"TENANT#..."`) or splits one, or names an attribute only the table has
(`gateToken`, `sealedCredentials`...). The engine, the workers and the stream consumers work on records that
storage decodes (docs/architecture.md). The benchmarks, the local stack and the tools read the table through
storage too; the tests may speak raw items: they check what is stored."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "execution_api"
STORAGE = LAYER / "storage"

# DynamoDB's low-level type descriptors.
TYPE_DESCRIPTORS = frozenset({"S", "N", "B", "L", "M", "SS", "NS", "BS", "BOOL", "NULL"})
# Key strings and key prefixes of the executions table (docs/data-model.md).
KEYS = frozenset({"EXECUTION", "PENDING_SUBMISSION", "PREDICTION"})
KEY_PARTS = ("JOB#", "TENANT#", "#EXECUTION#", "PREDICTION#", "PROVIDERKEY")
# Attributes only the table has: the words that are also API, message or log fields (status, result, jobId,
# rootJobIds, totalJobs, stateMachineExecutionArn...) are left out, they are everyone's.
TABLE_ATTRIBUTES = frozenset(
    {
        "pk",
        "sk",
        "writeId",
        "entity",
        "executionPk",
        "expiresAt",
        "baseDependsOn",
        "sealedParams",
        "sealedCredentials",
        "webhookSecretCiphertext",
        "jobWebhook",
        "dependents",
        "doneDependencies",
        "failedDependency",
        "gateToken",
        "keyHash",
        "keyHint",
        "usageKey",
        "claimedAt",
        "enqueuedAt",
        "givenUpAt",
    }
)


# The benchmarks' baseline is the original design's submit handler, writing that design's item to a table of
# its own (bench/benchmarks.py): not this table's shapes, so not storage's.
OTHER_DESIGNS = {"bench/benchmarks.py": frozenset({"MinimalHandler"})}


def outside_storage() -> list[Path]:
    layer = [path for path in LAYER.rglob("*.py") if STORAGE not in path.parents]
    others = [path for folder in ("functions", "bench", "local", "tools") for path in (ROOT / folder).rglob("*.py")]
    return sorted(layer + others)


def storage_talk(name: str, source: str, other_designs: frozenset[str] = frozenset()) -> list[str]:
    """One line per place where `source` reads or writes the table's item shapes, keys or attributes, outside
    the classes named in `other_designs`."""
    tree = ast.parse(source, filename=name)
    prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}  # docstrings
    elsewhere = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name in other_designs
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in elsewhere:
            continue
        what = None
        if isinstance(node, ast.Subscript) and _text(node.slice) in TYPE_DESCRIPTORS:
            what = f"reads a typed value [{_text(node.slice)!r}]"
        elif isinstance(node, ast.Dict) and any(_text(key) in TYPE_DESCRIPTORS for key in node.keys):
            what = "writes a typed value"
        elif isinstance(node, ast.Call) and _splits_a_key(node):
            what = "splits a key on #"
        elif isinstance(node, ast.Constant) and id(node) not in prose and _names_storage(node.value):
            what = f"names {node.value!r}"
        if what:
            found.append(f"{name}:{getattr(node, 'lineno', 0)} {what}")
    return found


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _splits_a_key(call: ast.Call) -> bool:
    splits = isinstance(call.func, ast.Attribute) and call.func.attr in ("split", "rsplit", "partition")
    return splits and bool(call.args) and _text(call.args[0]) == "#"


def _names_storage(value: object) -> bool:
    if not isinstance(value, str):
        return False
    return value in KEYS or value in TABLE_ATTRIBUTES or any(part in value for part in KEY_PARTS)


def test_only_the_storage_package_speaks_the_tables_item_shapes() -> None:
    # Given every module of the layer outside storage, every function's, the benchmarks', the local stack's and
    # the operators' tools
    modules = outside_storage()
    assert len(modules) > 40, "the layer or functions/ moved: update the paths"
    names = {path.relative_to(ROOT).as_posix() for path in modules}
    assert {"bench/load.py", "bench/engine.py", "bench/benchmarks.py", "local/server.py", "tools/api_keys.py"} <= names
    # When each is read
    found = [
        line
        for path in modules
        for name in [path.relative_to(ROOT).as_posix()]
        for line in storage_talk(name, path.read_text(), OTHER_DESIGNS.get(name, frozenset()))
    ]
    # Then none reads or writes items, keys or table-only attributes itself
    assert found == [], "go through a storage codec (storage.items, storage.keys, storage.stream):\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('status = item["status"]["S"]', "reads a typed value ['S']"),
        ('count = int(item.get("attempts", {})["N"])', "reads a typed value ['N']"),
        ('values = {":now": {"S": now}}', "writes a typed value"),
        ('tenant = pk.split("#")[1]', "splits a key on #"),
        ('if sk == "EXECUTION": pass', "names 'EXECUTION'"),
        ('is_job = sk.startswith("JOB#")', "names 'JOB#'"),
        ('pk = "TENANT#" + tenant', "names 'TENANT#'"),
        ('sealed = execution["sealedCredentials"]', "names 'sealedCredentials'"),
        ('token = job.get("gateToken")', "names 'gateToken'"),
    ],
    ids=["read-S", "read-N", "write-S", "split", "execution-sk", "job-prefix", "tenant-pk", "attribute", "engine-attr"],
)
def test_the_scan_finds_each_way_of_speaking_dynamodb(source: str, expected: str) -> None:
    [line] = storage_talk("x.py", source)
    assert line == f"x.py:1 {expected}"


@pytest.mark.parametrize(
    "source",
    [
        'job = message["job"]',  # a message's field, not an item's
        'status = job.status if job else "gone"',
        '"""The EXECUTION item and JOB# items are storage\'s."""',  # prose that names them inside a sentence
        'words = text.split(" ")',
    ],
    ids=["message-field", "record-attribute", "docstring-word", "split-on-space"],
)
def test_the_scan_leaves_records_messages_and_prose_alone(source: str) -> None:
    assert storage_talk("x.py", source) == []


def test_the_scan_leaves_only_the_named_classes_of_another_design_alone() -> None:
    source = 'class Baseline:\n    item = {"sk": "EXECUTION"}\n\nclass Bench:\n    item = {"sk": "EXECUTION"}\n'
    assert storage_talk("x.py", source, frozenset({"Baseline"})) == ["x.py:5 names 'sk'", "x.py:5 names 'EXECUTION'"]
