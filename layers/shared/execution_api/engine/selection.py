"""Which executor runs a job (docs/engine.md, "Routing"): the simulated one, the media executor, or the
provider executor. The one import of providers the engine makes is here, inside a function: providers builds
on the engine's executor contract (engine.executors), so the engine cannot import it at module level, and
the provider clients stay out of every other worker's cold start (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from execution_api.core.operations import executor_of
from execution_api.engine.executors import JobFailed, JobRequest, SimulatedExecutor
from execution_api.engine.media_executor import media_executor
from execution_api.engine.settings import EngineSettings


def provider_executor() -> Any:
    """Replicate, fal and ElevenLabs (execution_api.providers), imported on first use."""
    from execution_api.providers.wiring import provider_executor as built

    return built()


@dataclass
class SelectedExecutor:
    """Chooses the executor of each job: simulated where enabled and asked for (or the operation is unknown),
    the media executor for the media operations, the provider executor for the generations (which hands a
    job with no key to the local provider under make run), else a failure that names what this deployment
    runs (a job no worker runs is never retried)."""

    settings: EngineSettings
    media: Callable[[], Any] = media_executor
    providers: Callable[[], Any] = provider_executor

    def run(self, job: JobRequest, heartbeat: Callable[[], None]) -> dict[str, Any]:
        settings = self.settings
        executor = executor_of(job.operation, job.params, simulated_executor=settings.simulated_executor)
        if executor == "simulated":
            return SimulatedExecutor(default_ms=settings.simulated_job_ms).run(job, heartbeat)
        if executor == "media":
            result: dict[str, Any] = self.media().run(job, heartbeat)
            return result
        if executor == "providers":
            generated: dict[str, Any] = self.providers().run(job, heartbeat)
            return generated
        raise JobFailed(f"no worker of this deployment runs operation '{job.operation}'")
