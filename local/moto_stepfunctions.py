"""moto's Step Functions as `make run` and the engine tests use it: definitions executed, not only recorded,
and the one place where moto is patched for it (SendTaskFailure's cause, which moto 5.2.5 drops)."""

from __future__ import annotations

from typing import Any


def enable_state_machine_execution() -> None:
    """The embedded moto server runs state machine definitions (Map, Choice, SQS task tokens...) instead of
    only recording them. Set before any state machine is created: moto keeps them in another backend."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    keep_task_failure_causes()


def keep_task_failure_causes() -> None:
    """moto 5.2.5's SendTaskFailure drops `cause` (the worker's error message); AWS keeps it. Idempotent."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
