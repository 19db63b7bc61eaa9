"""Each function checks its settings when its handler is imported (Lambda's init phase): the template gives
every function what it needs, a missing or malformed variable fails the import naming it, and the limits
the template and docs/api.md state are the code's (execution_api.core.limits)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from execution_api.core import limits
from local.template import ROOT, Template

TEMPLATE = Template()
TEMPLATE_FUNCTIONS = {f.logical_id: f for f in TEMPLATE.functions()}

# What each function cannot start without (every other variable it reads has a default).
REQUIRED = {
    "SubmitExecutionFunction": {"EXECUTIONS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "CREDENTIAL_KEY_ID"},
    "ExecutionStatusFunction": {"EXECUTIONS_TABLE_NAME", "OUTPUTS_BUCKET_NAME"},
    "CancelExecutionFunction": {"EXECUTIONS_TABLE_NAME", "STATE_MACHINE_ARN", "WORK_QUEUE_URL"},
    "AuthorizerFunction": {"API_KEYS_TABLE_NAME"},
    "SweeperFunction": {"EXECUTIONS_TABLE_NAME"},
    "WebhookEnqueueFunction": {"EXECUTIONS_TABLE_NAME", "WEBHOOK_QUEUE_URL"},
    "WebhookSenderFunction": {
        "EXECUTIONS_TABLE_NAME",
        "WEBHOOK_QUEUE_URL",
        "CREDENTIAL_KEY_ID",
        "OUTPUTS_BUCKET_NAME",
    },
    "StarterFunction": {"EXECUTIONS_TABLE_NAME", "STATE_MACHINE_ARN"},
    "EngineFunction": {"EXECUTIONS_TABLE_NAME", "WORK_QUEUE_URL", "MEDIA_QUEUE_URL"},
    "WorkerFunction": {"EXECUTIONS_TABLE_NAME", "CREDENTIAL_KEY_ID", "OUTPUTS_BUCKET_NAME"},
    "MediaWorkerFunction": {"EXECUTIONS_TABLE_NAME", "CREDENTIAL_KEY_ID", "OUTPUTS_BUCKET_NAME"},
    "ProviderCallbackFunction": {"EXECUTIONS_TABLE_NAME", "CREDENTIAL_KEY_ID"},
    "PredictionPollerFunction": {"EXECUTIONS_TABLE_NAME", "CREDENTIAL_KEY_ID"},
    "ProviderKeysFunction": {"EXECUTIONS_TABLE_NAME", "CREDENTIAL_KEY_ID"},
}

# Imports each handler module under each environment it is given, as a fresh container would, and
# reports the SettingsError of each import that failed (or null).
PROBE = """
import importlib, json, os, sys
from execution_api.core.container import reset_caches
from execution_api.core.settings import SettingsError
base = dict(os.environ)
outcomes = []
for module, environment in json.loads(sys.stdin.read()):
    os.environ.clear()
    os.environ.update({**base, **environment})
    reset_caches()
    sys.modules.pop(module, None)
    try:
        importlib.import_module(module)
        outcomes.append(None)
    except SettingsError as error:
        outcomes.append(str(error))
print(json.dumps(outcomes))
"""


def import_handlers(cases: list[tuple[str, dict[str, str]]]) -> list[str | None]:
    """Each (function, environment): None when its handler imported, else the SettingsError's message."""
    folders = [*TEMPLATE.layer_dirs(), *(f.code_dir for f in TEMPLATE_FUNCTIONS.values()), ROOT]
    # Nothing of the test process's environment but what Powertools and boto3 need to import.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(str(folder) for folder in folders),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    modules = [(TEMPLATE_FUNCTIONS[f].handler.rsplit(".", 1)[0], environment) for f, environment in cases]
    done = subprocess.run(  # noqa: S603 - this interpreter, this repository's code
        [sys.executable, "-c", PROBE], input=json.dumps(modules), env=env, capture_output=True, text=True, check=True
    )
    outcomes: list[str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return outcomes


def test_every_function_is_in_the_list() -> None:
    assert set(TEMPLATE_FUNCTIONS) == set(REQUIRED)


def test_each_function_starts_with_its_template_environment_and_not_without_a_required_variable() -> None:
    # Given each function's environment as the template declares it, whole and less one variable at a time
    cases: list[tuple[str, dict[str, str]]] = []
    for function in TEMPLATE.functions():
        environment = TEMPLATE.offline_environment(function)
        cases.append((function.logical_id, environment))
        cases += [(function.logical_id, {k: v for k, v in environment.items() if k != name}) for name in environment]
    # When each handler is imported with it, as Lambda's init phase does
    outcomes = iter(import_handlers(cases))
    # Then the whole environment is enough, and each required variable's absence fails the import naming it
    failed: dict[str, set[str]] = {}
    for function_id, environment in cases:
        outcome = next(outcomes)
        missing = set(TEMPLATE.offline_environment(TEMPLATE_FUNCTIONS[function_id])) - set(environment)
        if outcome is not None:
            [name] = missing
            assert f"{name} is not set" in outcome, outcome
            failed.setdefault(function_id, set()).add(name)
        else:
            assert not missing & REQUIRED[function_id]
    assert failed == REQUIRED


def test_a_malformed_variable_fails_the_import_naming_it() -> None:
    environment = TEMPLATE.offline_environment(TEMPLATE_FUNCTIONS["SubmitExecutionFunction"])
    [outcome] = import_handlers([("SubmitExecutionFunction", {**environment, "MAX_JOBS": "many"})])
    assert outcome is not None
    assert outcome.startswith("the environment does not configure SubmitSettings: MAX_JOBS: ")


def test_a_malformed_presign_expiry_fails_the_status_functions_import_not_its_requests() -> None:
    environment = TEMPLATE.offline_environment(TEMPLATE_FUNCTIONS["ExecutionStatusFunction"])
    malformed, whole = ({**environment, "OUTPUT_URL_EXPIRY_SECONDS": value} for value in ("an hour", "3600.0"))
    [refused, accepted] = import_handlers([("ExecutionStatusFunction", malformed), ("ExecutionStatusFunction", whole)])
    assert refused is not None
    assert refused.startswith("the environment does not configure OutputLinkSettings: OUTPUT_URL_EXPIRY_SECONDS: ")
    assert accepted is None  # a whole number with a zero fraction, as pydantic's settings take it


def test_the_templates_limits_are_the_codes() -> None:
    parameters = TEMPLATE.document["Parameters"]
    shared = TEMPLATE.document["Globals"]["Function"]["Environment"]["Variables"]
    assert shared["MAX_JOBS"] == {"Ref": "MaxJobs"}
    assert parameters["MaxJobs"]["Default"] == limits.MAX_JOBS
    assert int(shared["MAX_JOB_PARAMS_BYTES"]) == limits.MAX_JOB_PARAMS_BYTES
    assert int(shared["MAX_BODY_BYTES"]) == limits.MAX_BODY_BYTES


# Where docs/api.md states a length rule, in its own words; each phrase must be there with the code's number.
API_DOC_RULES = [
    f"| job `id` | 1 to {limits.MAX_JOB_ID_LENGTH} characters of `A-Z a-z 0-9 . _ : -`",
    f"`rootJobIds`) that is not 1 to {limits.MAX_JOB_ID_LENGTH} characters of `A-Z a-z 0-9 . _ : -`",
    f"| job `operation` | 1 to {limits.MAX_OPERATION_LENGTH} characters: a letter, then letters, digits",
    f"`operation`/`type` is not 1 to {limits.MAX_OPERATION_LENGTH} characters: a letter, then letters, digits",
    f'job `output` (e.g. `"$job1"`, at most {limits.MAX_OUTPUT_LENGTH} characters)',
    f"`output` is longer than {limits.MAX_OUTPUT_LENGTH} characters",
    f"`providerApiKeys` name that is not 1 to {limits.MAX_PROVIDER_NAME_LENGTH} characters of `A-Z a-z 0-9 . _ : -`",
    f"`Idempotency-Key`: 1 to {limits.MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters",
    f"`Idempotency-Key` is not 1 to {limits.MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters",
]
# Any length stated in these words; each must lie inside one of the phrases above.
STATED_LENGTH = re.compile(r"\b(?:1 to|at most|longer than) \d+ (?:of|characters|visible)")


def test_the_lengths_docs_api_states_are_the_codes() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    missing = [phrase for phrase in API_DOC_RULES if phrase not in text]
    assert not missing, f"docs/api.md no longer says (execution_api.core.limits): {missing}"
    covered = [(m.start(), m.end()) for phrase in API_DOC_RULES for m in re.finditer(re.escape(phrase), text)]
    stray = [
        m.group()
        for m in STATED_LENGTH.finditer(text)
        if not any(start <= m.start() and m.end() <= end for start, end in covered)
    ]
    assert not stray, (
        f"docs/api.md states a length that is not execution_api.core.limits' or not in API_DOC_RULES: {stray}"
    )


def test_the_worker_refuses_a_simulated_job_time_over_the_simulate_ms_bound() -> None:
    # SIMULATED_JOB_MS is at most simulate.ms' bound (15 minutes): a worker could not wait longer
    environment = TEMPLATE.offline_environment(TEMPLATE_FUNCTIONS["WorkerFunction"])
    over, at = import_handlers(
        [
            ("WorkerFunction", {**environment, "SIMULATED_JOB_MS": "900001"}),
            ("WorkerFunction", {**environment, "SIMULATED_JOB_MS": "900000"}),
        ]
    )
    assert over is not None
    assert "SIMULATED_JOB_MS" in over
    assert at is None
