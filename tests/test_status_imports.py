"""The status function loads the read side only: polling it every second must not pay for the submit path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from local.template import Template

SUBMIT_PATH = (
    "execution_api.validation",
    "execution_api.plan_checks",
    "execution_api.idempotency",
    "execution_api.credentials",
    "execution_api.webhook_urls",
    "execution_api.service",
    "aws_lambda_powertools.utilities.idempotency",
    "ada_url",
    "nanoid",
)


def test_importing_the_status_handler_loads_nothing_of_the_submit_path() -> None:
    template = Template()
    function = next(f for f in template.functions() if f.logical_id == "ExecutionStatusFunction")
    path = os.pathsep.join(str(folder) for folder in [*template.layer_dirs(), function.code_dir])
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "EXECUTIONS_TABLE_NAME": "t",
        "OUTPUTS_BUCKET_NAME": "outputs",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    code = "import json, sys, status_handler; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "execution_api.status" in loaded
    assert sorted(loaded & set(SUBMIT_PATH)) == []
