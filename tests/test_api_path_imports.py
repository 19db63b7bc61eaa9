"""The status and authorizer functions load only what their request needs (docs/deployment.md, "Cold starts
of the API path"): polling status every second must not pay for the submit path, neither pays for Powertools'
event handler (every resolver and event class), and neither the authorizer, on every uncached request's
path, nor the status function loads pydantic (its answer is rendered by execution_api.models.status_view).
Each case imports the handler in a fresh interpreter with its template environment."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from local.template import Template

SUBMIT_PATH = (
    "execution_api.intake.validation",
    "execution_api.intake.rules",
    "execution_api.intake.idempotency",
    "execution_api.core.credentials",
    "execution_api.webhooks.urls",
    "execution_api.intake.submission",
    "aws_lambda_powertools.utilities.idempotency",
    "ada_url",
    "nanoid",
)
# Powertools' event handler package, and its data classes (each loads every event class of its package).
EVENT_HANDLER = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")
TEMPLATE = Template()


def loaded_by(logical_id: str) -> set[str]:
    """The modules loaded once the function's handler is imported, as Lambda's init phase does."""
    function = next(f for f in TEMPLATE.functions() if f.logical_id == logical_id)
    module = function.handler.rsplit(".", 1)[0]
    path = os.pathsep.join(str(folder) for folder in [*TEMPLATE.layer_dirs(), function.code_dir])
    env = {**os.environ, **TEMPLATE.offline_environment(function), "PYTHONPATH": path}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", [*SUBMIT_PATH, *EVENT_HANDLER])
def test_every_module_named_here_exists(module: str) -> None:
    # A renamed module left here would make "loads nothing of it" pass for the wrong reason.
    assert importlib.util.find_spec(module) is not None, f"{module} does not exist: name what it became"


def test_importing_the_status_handler_loads_nothing_of_the_submit_path() -> None:
    loaded = loaded_by("ExecutionStatusFunction")
    assert "execution_api.api.status" in loaded
    assert sorted(loaded & set(SUBMIT_PATH)) == []


@pytest.mark.parametrize("logical_id", ["ExecutionStatusFunction", "AuthorizerFunction"])
def test_the_status_and_authorizer_handlers_never_load_powertools_event_handler(logical_id: str) -> None:
    loaded = loaded_by(logical_id)
    assert "aws_lambda_powertools.logging" in loaded  # the handler did import Powertools' Logger
    assert [m for m in loaded if m.startswith(EVENT_HANDLER)] == []


@pytest.mark.parametrize(
    ("logical_id", "module"),
    [
        ("AuthorizerFunction", "execution_api.api.authorizer"),
        ("ExecutionStatusFunction", "execution_api.models.status_view"),
    ],
)
def test_the_authorizer_and_status_functions_load_no_pydantic(logical_id: str, module: str) -> None:
    loaded = loaded_by(logical_id)
    assert module in loaded
    assert [m for m in loaded if m.startswith(("pydantic", "pydantic_core"))] == []
