"""Step Functions as the engine and the worker call it: a run's deterministic name and ARN, starting a run
once, stopping it, and answering task tokens; a token Step Functions no longer waits for is not an error."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from execution_api.core.observability import logger

# A token Step Functions no longer waits for: its state already moved on, timed out, or the execution stopped.
STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist", "ExecutionDoesNotExist"})


def state_machine_execution_name(tenant_id: str, execution_id: str) -> str:
    """Deterministic, so a redelivered stream record cannot start a second run (names are unique per state
    machine for 90 days). The tenant is hashed: names are at most 80 of A-Z a-z 0-9 - _."""
    return f"{execution_id}-{hashlib.sha256(tenant_id.encode()).hexdigest()[:20]}"


def state_machine_execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


class StepFunctions:
    """The Step Functions client, with the errors that mean "already done" or "no longer waited for" answered."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def start(self, state_machine_arn: str, name: str, state_input: dict[str, Any]) -> str | None:
        """The new run's ARN; None when a run of this name exists already (a redelivered start)."""
        try:
            answer = self._client.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(state_input)
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            return None
        return str(answer["executionArn"])

    def stop(self, arn: str, cause: str) -> None:
        try:
            self._client.stop_execution(executionArn=arn, cause=cause)
        except ClientError as error:
            if error.response["Error"]["Code"] not in STALE_TOKEN_ERRORS:
                raise

    def succeed(self, token: str, output: Any) -> bool:
        return self._token_call("send_task_success", taskToken=token, output=json.dumps(output))

    def fail(self, token: str, error: str, cause: str) -> bool:
        return self._token_call("send_task_failure", taskToken=token, error=error, cause=cause)

    def heartbeat(self, token: str) -> bool:
        return self._token_call("send_task_heartbeat", taskToken=token)

    def _token_call(self, operation: str, **kwargs: Any) -> bool:
        """False when Step Functions no longer waits for this token (the run was cancelled or timed out)."""
        try:
            getattr(self._client, operation)(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] not in STALE_TOKEN_ERRORS:
                raise
            logger.info("task token no longer awaited", extra={"operation": operation})
            return False
        return True
