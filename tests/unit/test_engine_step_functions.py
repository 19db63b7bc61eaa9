"""What a run is given in Step Functions: its input at MAX_JOBS within the payload limit, and its name."""

from __future__ import annotations

import json

from execution_api.engine.settings import EngineSettings
from execution_api.engine.step_functions import state_machine_execution_name


def test_the_run_input_of_500_jobs_with_the_longest_ids_fits_step_functions_payloads() -> None:
    settings = EngineSettings.model_validate({"EXECUTIONS_TABLE_NAME": "t"})
    state_input = {
        "tenantId": "t" * 64,
        "executionId": "V1StGXR8_Z5jdHi6B-myT",
        "jobIds": [f"{i:0128d}" for i in range(500)],
        "config": settings.state_machine_input_config(),
    }
    assert len(json.dumps(state_input).encode()) < 256 * 1024


def test_run_names_are_deterministic_valid_and_tenant_specific() -> None:
    name = state_machine_execution_name("acme", "V1StGXR8_Z5jdHi6B-myT")
    assert name == state_machine_execution_name("acme", "V1StGXR8_Z5jdHi6B-myT")
    assert name != state_machine_execution_name("globex", "V1StGXR8_Z5jdHi6B-myT")
    assert len(name) <= 80
    assert name.replace("-", "").replace("_", "").isalnum()
