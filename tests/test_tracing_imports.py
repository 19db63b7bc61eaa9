"""The X-Ray SDK is loaded only where tracing is on (execution_api/core/observability.py): the API functions,
off by default (ApiFunctionsTraceDisabled), never import it; with tracing on, and in the engine's
functions, Powertools' Tracer wraps the handler as before. Each case is a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from execution_api.core.observability import Untraced
from local.template import Template

TEMPLATE = Template()
FUNCTIONS = {f.logical_id: f for f in TEMPLATE.functions()}
# Every function API Gateway invokes: the authorizer and each function with an Api event (a new route counts).
API_FUNCTIONS = sorted(
    {"AuthorizerFunction"}
    | {
        name
        for name, resource in TEMPLATE.of_type("AWS::Serverless::Function").items()
        if any(event["Type"] == "Api" for event in resource["Properties"].get("Events", {}).values())
    }
)


def imported(logical_id: str, trace_disabled: str | None) -> tuple[set[str], str]:
    """(modules loaded, type of observability.tracer) after importing the function's handler as Lambda would,
    with its template environment and POWERTOOLS_TRACE_DISABLED as given (None: the template's own)."""
    function = FUNCTIONS[logical_id]
    module = function.handler.rsplit(".", 1)[0]
    path = os.pathsep.join(str(folder) for folder in [*TEMPLATE.layer_dirs(), function.code_dir])
    # Not this process's POWERTOOLS_TRACE_DISABLED (tests/conftest.py sets it): the template's.
    env = {name: value for name, value in os.environ.items() if name != "POWERTOOLS_TRACE_DISABLED"}
    env |= {**TEMPLATE.offline_environment(function), "PYTHONPATH": path, "AWS_DEFAULT_REGION": "us-east-1"}
    if trace_disabled is not None:
        env["POWERTOOLS_TRACE_DISABLED"] = trace_disabled
    code = (
        f"import json, sys, {module}; from execution_api.core import observability; "
        "print(json.dumps([sorted(sys.modules), type(observability.tracer).__name__]))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    modules, tracer = json.loads(done.stdout.strip().splitlines()[-1])
    return set(modules), tracer


@pytest.mark.parametrize("logical_id", API_FUNCTIONS)
def test_given_an_api_function_with_the_template_default_when_imported_then_no_xray_sdk(logical_id: str) -> None:
    variables = FUNCTIONS[logical_id].environment
    assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Ref": "ApiFunctionsTraceDisabled"}
    assert TEMPLATE.document["Parameters"]["ApiFunctionsTraceDisabled"]["Default"] == "true"
    modules, tracer = imported(logical_id, None)
    assert tracer == "Untraced"
    assert not {m for m in modules if m.startswith("aws_xray_sdk")}


@pytest.mark.parametrize("logical_id", ["ExecutionStatusFunction", "WorkerFunction"])
def test_given_tracing_on_when_imported_then_powertools_tracer_and_the_xray_sdk(logical_id: str) -> None:
    modules, tracer = imported(logical_id, "false" if logical_id in API_FUNCTIONS else None)
    assert tracer == "Tracer"
    assert "aws_xray_sdk.core" in modules


def test_the_untraced_decorator_returns_the_handler_itself_in_both_forms() -> None:
    def handler(event: dict[str, str], context: object) -> dict[str, str]:
        return event

    untraced = Untraced()
    assert untraced.capture_lambda_handler(handler) is handler
    assert untraced.capture_lambda_handler(capture_response=False)(handler) is handler
    assert untraced.capture_lambda_handler(handler)({"a": "b"}, None) == {"a": "b"}
