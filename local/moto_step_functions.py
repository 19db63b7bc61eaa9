"""Faults of moto 5.2.5's Step Functions interpreter that AWS does not have, corrected for `make run`, the
tests and the benchmarks (idempotent: applying twice changes nothing).

1. `SendTaskFailure` drops `cause` (the worker's error message); AWS keeps it.
2. A retried `.waitForTaskToken` task keeps its first attempt's token, and with it that attempt's
   answer: the next attempt could read the old answer (moto's heartbeat wait reads it on any heartbeat).
   Here each attempt starts with no answer, as each attempt on AWS has a token of its own.
3. An answer given before the interpreter listens is lost for the heartbeat: moto sends the message,
   and only then creates the endpoint its heartbeat wait listens on. A worker fast enough to answer in
   between (a 0 ms job on a loaded machine) went unheard for the whole heartbeat (300 s by default),
   then the attempt counted as a heartbeat timeout. Here an endpoint created after this attempt's
   answer starts out notified.

Each is moto's behaviour, not AWS's, and cannot be avoided while the tests and `make run BACKEND=moto` run
the state machine on moto. No upstream issue names them (getmoto/moto and localstack/localstack searched,
December 2026): 1 is moto's own `StepFunctionResponse.send_task_failure`, which reads `cause` and does not
pass it on; 2 and 3 are in the interpreter moto vendors from LocalStack, whose heartbeats came with
localstack/localstack#8428 and whose heartbeat locking fix, #10663, does not cover an answer given before
the endpoint exists. All three are to be filed, with tests/integration/test_moto_step_functions.py as the
reproducer. The patches reach into moto's private `_outcome`/`_notify_event`, here and nowhere else.
"""

from __future__ import annotations

from typing import Any


def enable_state_machine_execution() -> None:
    """The embedded moto server runs state machine definitions (Map, Choice, SQS task tokens...) instead of
    only recording them. Set before any state machine is created: moto keeps them in another backend."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    patch_step_functions()


def patch_step_functions() -> None:
    keep_task_failure_causes()
    start_each_attempt_unanswered()
    hear_early_task_answers()


def keep_task_failure_causes() -> None:
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


def start_each_attempt_unanswered() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    def _eval_execution(self: Any, env: Any) -> None:
        token = env.states.context_object.context_object_data.get("Task", {}).get("Token")
        endpoint = env.callback_pool_manager.get(token) if token else None
        if endpoint is not None:  # before this attempt's message is sent: its answer cannot be here yet
            endpoint._outcome = None
            endpoint._notify_event.clear()
        StateTaskService._eval_execution(self, env)

    StateTaskServiceCallback._eval_execution = _eval_execution  # type: ignore[method-assign]


def hear_early_task_answers() -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    original = getattr(
        CallbackEndpoint.setup_heartbeat_endpoint, "__wrapped__", CallbackEndpoint.setup_heartbeat_endpoint
    )

    def setup_heartbeat_endpoint(self: CallbackEndpoint, heartbeat_seconds: int) -> Any:
        endpoint = original(self, heartbeat_seconds)
        # notify() stores the outcome before it looks for this endpoint, and the endpoint is stored before
        # the outcome is read here: one of the two always sees the other.
        if self.get_outcome() is not None:
            endpoint.notify()
        return endpoint

    setup_heartbeat_endpoint.__wrapped__ = original  # type: ignore[attr-defined]
    CallbackEndpoint.setup_heartbeat_endpoint = setup_heartbeat_endpoint  # type: ignore[method-assign]
