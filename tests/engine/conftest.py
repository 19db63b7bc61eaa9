"""The engine under test: moto executes the real state machine definition from template.yaml, and the
template's event sources deliver stream records and queue messages to the in-process functions."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from execution_api.engine import worker as worker_module
from execution_api.engine.executors import JobRequest, SimulatedExecutor
from local import ministack
from local.event_sources import EventSources
from local.moto_step_functions import patch_step_functions
from local.stack import (
    LocalDeployment,
    apply_environment,
    forget_cached_configuration,
    provision,
    use_local_credentials,
)
from tests.support import MOTO_CONFIG, TEST_BACKEND, Answer, Api, plan

TERMINAL = ("completed", "failed", "cancelled")
# Fast defaults for tests; a test changes them with @pytest.mark.engine_settings / engine_parameters.
SETTINGS = {"SIMULATED_JOB_MS": "0", "MAX_PARALLEL_JOBS": "10"}
PARAMETERS = {"JobRetryIntervalSeconds": "1"}


@dataclass
class Engine:
    stack: LocalDeployment
    sources: EventSources
    api: Api

    @property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions", region_name="us-east-1")

    def submit(self, *jobs: dict[str, Any], **fields: Any) -> str:
        answer = self.api.submit(plan(*jobs, **fields))
        assert answer.status == 202, answer.body
        execution_id: str = answer.body["id"]
        return execution_id

    def status(self, execution_id: str) -> dict[str, Any]:
        answer = self.api.status(execution_id)
        assert answer.status == 200, answer.body
        body: dict[str, Any] = answer.body
        return body

    def jobs(self, execution_id: str) -> dict[str, dict[str, Any]]:
        return {job["id"]: job for job in self.status(execution_id)["jobs"]}

    def runs(self) -> list[dict[str, Any]]:
        arn = self.stack.names["ExecutionStateMachine"]
        runs: list[dict[str, Any]] = self.sfn.list_executions(stateMachineArn=arn)["executions"]
        return runs

    def run(self, execution_id: str, timeout_s: float = 60) -> dict[str, Any]:
        """Deliver events until the execution is finished and its state machine run has ended."""

        table = boto3.resource("dynamodb", region_name="us-east-1").Table(self.stack.names["ExecutionsTable"])
        key = {"pk": f"TENANT#local#EXECUTION#{execution_id}", "sk": "EXECUTION"}

        def finished() -> bool:  # one GetItem per check: cheap even for 500 jobs
            item = table.get_item(Key=key, ConsistentRead=True)["Item"]
            return item["status"] in TERMINAL and not any(
                run["status"] == "RUNNING" for run in self.runs() if run["name"].startswith(execution_id)
            )

        assert self.sources.run_until(finished, timeout_s), self.status(execution_id)
        self.sources.run_until(lambda: not self.sources.busy(), 5)
        return self.status(execution_id)

    def run_until(self, condition: Any, timeout_s: float = 30) -> None:
        assert self.sources.run_until(condition, timeout_s)

    def call(self, function_id: str, event: dict[str, Any]) -> Any:
        from local.stack import FakeLambdaContext

        function = self.stack.function(function_id)
        return self.stack.handler(function)(event, FakeLambdaContext(function, "test"))

    def cancel(self, execution_id: str, tenant: str | None = None) -> Answer:
        from local.events import rest_api_event

        event = rest_api_event(
            "POST",
            f"/api/execute/{execution_id}/cancel",
            resource="/api/execute/{id}/cancel",
            path_parameters={"id": execution_id},
            tenant_id=tenant or "local",
        )
        return self.api.call("CancelExecutionFunction", event)


def recording_executor(monkeypatch: pytest.MonkeyPatch) -> list[JobRequest]:
    """The simulated executor, run instantly, recording each request the worker hands it."""
    seen: list[JobRequest] = []

    class Recording(SimulatedExecutor):
        def run(self, request: JobRequest, heartbeat: Any) -> Any:
            seen.append(request)
            return super().run(request, heartbeat)

    monkeypatch.setattr(worker_module, "executor_for", lambda operation, settings: Recording(default_ms=0))
    return seen


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """moto executing the definition (or ministack under TEST_BACKEND=ministack), provisioned from
    template.yaml, with the functions fed by the template's event sources."""
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # its interpreter logs every caught error
    patch_step_functions()
    saved = dict(os.environ)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    use_local_credentials()
    settings_marker = request.node.get_closest_marker("engine_settings")
    parameters_marker = request.node.get_closest_marker("engine_parameters")
    parameters = {**PARAMETERS, **(parameters_marker.kwargs if parameters_marker else {})}
    with contextlib.ExitStack() as backend:
        endpoint = None
        if TEST_BACKEND == "ministack":
            endpoint = request.getfixturevalue("ministack_endpoint")
            ministack.reset(endpoint)
            os.environ["AWS_ENDPOINT_URL"] = endpoint
        else:
            backend.enter_context(mock_aws(config={**MOTO_CONFIG, "stepfunctions": {"execute_state_machine": True}}))
        stack = provision(endpoint_url=endpoint, parameters=parameters)
        apply_environment(stack)
        os.environ.update({**SETTINGS, **(settings_marker.kwargs if settings_marker else {})})
        forget_cached_configuration()
        sources = EventSources(stack, endpoint)
        harness = Engine(stack, sources, Api(stack))
        try:
            yield harness
        finally:
            for run in harness.runs():  # end the interpreter's threads before the backend goes away
                if run["status"] == "RUNNING":
                    harness.sfn.stop_execution(executionArn=run["executionArn"])
            sources.stop()
    os.environ.clear()
    os.environ.update(saved)
    forget_cached_configuration()
