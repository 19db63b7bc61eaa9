"""make api-key and make deploy run on any Python with boto3 (the SAM CLI's venv, an operator's laptop):
their tools import nothing of the dev environment or the layer's other dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What boto3 alone does not bring: each is made unimportable in the fresh interpreter.
NOT_INSTALLED = ("pydantic", "pydantic_core", "yaml", "aws_lambda_powertools", "moto", "local", "nanoid")


@pytest.mark.parametrize("tool", ["tools.api_keys", "tools.deploy"])
def test_given_only_boto3_when_the_tool_is_imported_then_it_loads(tool: str) -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in NOT_INSTALLED)
    code = f"import sys; {blocked}; import {tool}; print('ok')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip() == "ok"
