"""Two faults of moto 5.2.5's Step Functions interpreter that AWS does not have, corrected for `make run`,
the tests and the benchmarks (idempotent: applying twice changes nothing).

1. `SendTaskFailure` drops `cause` (the worker's error message); AWS keeps it.
2. A task token answered before the interpreter starts listening is lost for the heartbeat. For a
   `.waitForTaskToken` task with a heartbeat, moto sends the message, and only then creates the
   endpoint its heartbeat wait listens on. A worker fast enough to answer in between (a 0 ms job on a
   loaded machine) leaves its answer stored but unheard: the interpreter waits the whole heartbeat
   (300 s by default), then reports a heartbeat timeout and runs the job again. On AWS an answer is
   never early. Here, an endpoint created after the answer starts out notified.
"""

from __future__ import annotations

from typing import Any


def patch_step_functions() -> None:
    keep_task_failure_causes()
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
