"""The layer Lambda loads fast (docs/deployment.md, "How the layer is built"): built from locked, hashed
wheels for cp313/aarch64, with bytecode Lambda uses despite SAM's fixed zip timestamps, and each function
importing only its route's code."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

from bench.cold_start_built import pyc_flags
from local.template import ROOT, Template

LAYER = ROOT / "layers" / "shared"
LOCK = LAYER / "requirements-lock.txt"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "SharedLayer" / "python"
# What only POST /api/execute needs: the status and authorizer functions must never load it.
SUBMIT_PATH = (
    "execution_api.intake.idempotency",
    "execution_api.intake.rules",
    "execution_api.models.request",
    "execution_api.webhooks.urls",
    "aws_lambda_powertools.utilities.idempotency",
    "nanoid",
)


def locked() -> dict[str, str]:
    return {m[1].lower(): m[2] for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", LOCK.read_text(), re.MULTILINE)}


def test_the_layer_is_built_by_its_makefile_for_lambda_platform() -> None:
    layer = Template().resources["SharedLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    assert re.search(r"^build-SharedLayer:", makefile, re.MULTILINE)
    for flag in (
        "--platform manylinux2014_aarch64",
        "--implementation cp",
        "--python-version 3.13",
        "--only-binary=:all:",
        "--require-hashes",
        "-r requirements-lock.txt",
        "compileall",
        "--invalidation-mode unchecked-hash",
    ):
        assert flag in makefile, flag


def test_the_lock_pins_every_package_with_hashes_and_keeps_the_direct_pins() -> None:
    text = LOCK.read_text()
    pins = locked()
    for block in re.split(r"\n(?=[A-Za-z])", text.split("\n", 2)[2]):
        assert "--hash=sha256:" in block, block.splitlines()[0]
    direct = re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[\w,]+\])?==(\S+)$", (LAYER / "requirements.txt").read_text(), re.M)
    assert direct
    for name, pinned in direct:
        assert pins[name.lower()] == pinned, name
    assert {"botocore", "pydantic-core", "aws-xray-sdk"} <= set(pins)  # transitive ones are locked too


def test_the_dev_environment_runs_the_locked_versions() -> None:
    # requirements-dev.txt constrains to constraints.txt: the lock's versions without hashes (hashes in a
    # constraints file would turn on pip's hash checking for every dev package).
    assert "-c layers/shared/constraints.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    constraints = dict(
        line.lower().split("==") for line in (LAYER / "constraints.txt").read_text().splitlines() if "==" in line
    )
    assert constraints == locked()
    for name, pinned in locked().items():
        assert version(name) == pinned, name


def test_unchecked_hash_bytecode_is_used_whatever_the_source_timestamp(tmp_path: Path) -> None:
    """SAM zips every file with a 1980 timestamp: timestamp-checked .pyc files would be ignored as stale,
    unchecked-hash ones are used as they are (the source is not even read)."""
    module = tmp_path / "probe.py"
    module.write_text("ANSWER = 'from bytecode'\n")
    subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(tmp_path)], check=True
    )
    module.write_text("ANSWER = 'from source'\n")  # what a stale-looking source would give
    os.utime(module, (315532800, 315532800))  # 1980-01-01, as in SAM's zip
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", "import probe; print(probe.ANSWER)"], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "from bytecode"
    assert pyc_flags(tmp_path) == (1, 1)


@pytest.mark.skipif(not BUILT_LAYER.is_dir(), reason="no .aws-sam/build: run make build")
def test_the_built_layer_carries_unchecked_hash_bytecode_for_every_module() -> None:
    sources = list(BUILT_LAYER.rglob("*.py"))
    total, unchecked = pyc_flags(BUILT_LAYER)
    assert (BUILT_LAYER / "execution_api" / "__pycache__").is_dir()
    assert total == unchecked >= len(sources) > 0
    assert list(BUILT_LAYER.glob("pydantic_core/*aarch64*.so"))


ROUTE_PROBE = textwrap.dedent(
    """
    import json, sys
    from moto import mock_aws
    from local.stack import FakeLambdaContext, apply_environment, provision, use_local_credentials
    from local.events import rest_api_event

    logical_id, method, path = sys.argv[1:4]
    use_local_credentials()
    with mock_aws():
        stack = provision()
        apply_environment(stack)
        loaded_before = set(sys.modules)  # moto and its dependencies
        function = stack.function(logical_id)
        handler = stack.handler(function)
        if logical_id == "AuthorizerFunction":
            event = {"type": "TOKEN", "authorizationToken": "Bearer nope",
                     "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/dev/GET/api/execute/x/status"}
        else:
            event = rest_api_event(method, path, headers={})
        try:
            handler(event, FakeLambdaContext(function, "probe"))
        except PermissionError:
            pass  # the authorizer refuses an unknown key by raising, as API Gateway expects
        print(json.dumps(sorted(set(sys.modules) - loaded_before)))
    """
)


@pytest.mark.parametrize("module", SUBMIT_PATH)
def test_every_module_of_the_submit_path_exists(module: str) -> None:
    # A renamed module left in SUBMIT_PATH would make "never loaded" pass for the wrong reason.
    assert importlib.util.find_spec(module) is not None, f"{module} does not exist: name what it became"


@pytest.mark.parametrize(
    ("function", "method", "path"),
    [
        ("ExecutionStatusFunction", "GET", "/api/execute/V1StGXR8_Z5jdHi6B-myT/status"),
        ("AuthorizerFunction", "GET", ""),
    ],
)
def test_status_and_authorizer_never_load_the_submit_path(function: str, method: str, path: str) -> None:
    """Imported and invoked in a fresh interpreter: nothing of the submit path gets loaded."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAYER)])}
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", ROUTE_PROBE, function, method, path],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert any(name.startswith("execution_api") for name in loaded)
    for module in SUBMIT_PATH:
        assert module not in loaded, module
