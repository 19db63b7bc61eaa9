"""The plan once its aliases are resolved: what validation hands to the checks and to the submission,
which stores it as `execution_api.models.records` (apart from them: the status path loads no pydantic)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from pydantic_core import to_json

# The SDK wires one job's output into another's input with strings like "_videoJobDependency:job1".
DEPENDENCY_REFERENCE = re.compile(r"_[A-Za-z][A-Za-z0-9]*JobDependency:(?P<job_id>.*)", re.DOTALL)


@dataclass(slots=True)  # not frozen: params_json() caches its text in it; nothing else changes
class PlannedJob:
    index: int
    id: str
    operation: str
    params: dict[str, Any]
    depends_on: tuple[str, ...]
    depends_on_field: str = "dependsOn"  # or the SDK's "dependencies": where error pointers point
    operation_field: str = "operation"  # or the SDK's "type"
    output: str | None = None
    _params_json: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def params_json(self) -> bytes:
        """The params as compact UTF-8 JSON, serialized once for the plan checks, the credential scan and
        storage (pydantic-core's `to_json`: Decimals come out quoted; `exact_json.text_of` minds that).
        Cached: params are never changed in place (credentials are taken from a copy)."""
        if self._params_json is None:
            self._params_json = to_json(self.params)
        return self._params_json


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: SecretStr | None
    pointer: str  # where the URL was given: /options/webhookUrl or /options/webhook/url


@dataclass(frozen=True)
class ExecutionPlan:
    jobs: tuple[PlannedJob, ...]
    root_job_ids: tuple[str, ...] | None = None
    base_execution_id: str | None = None
    base_execution_pointer: str = "/options/baseExecutionId"
    webhook: WebhookTarget | None = None
    provider_api_keys: dict[str, SecretStr] = field(default_factory=dict)

    def job_ids(self) -> frozenset[str]:
        return frozenset(job.id for job in self.jobs)

    def derived_root_job_ids(self) -> tuple[str, ...]:
        """The jobs with no dependencies, in plan order: what `rootJobIds` must equal. A job that depends
        only on jobs of the base execution can start at once, so it is a root too."""
        if self.base_execution_id is None:
            return tuple(job.id for job in self.jobs if not job.depends_on)
        ids = self.job_ids()
        return tuple(job.id for job in self.jobs if not any(d in ids for d in job.depends_on))

    def base_dependencies(self) -> dict[str, list[PlannedJob]]:
        """Dependencies on jobs outside the plan (of the base execution), with the jobs that name them."""
        ids = self.job_ids()
        outside: dict[str, list[PlannedJob]] = {}
        for job in self.jobs:
            for dependency in job.depends_on:
                if dependency not in ids:
                    outside.setdefault(dependency, []).append(job)
        return outside
