"""The engine's queue consumer: the gate, completed, failed and finish messages the state machine sends
with its task tokens (docs/engine.md), and Step Functions' status-change events (timeouts, aborts)."""

from typing import Any, assert_never

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.core.observability import logger, tracer
from execution_api.core.settings import load_settings
from execution_api.engine.messages import Completed, EngineRecord, Failed, Finish, Gate
from execution_api.engine.scheduler import engine
from execution_api.engine.settings import GateSettings

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(GateSettings)


def handle_message(record: EngineRecord) -> None:
    """One parsed message (a record that does not parse fails alone, before this: engine/messages.py)."""
    message = record.body
    logger.append_keys(executionId=message.execution_id, jobId=getattr(message, "job_id", None), action=message.action)
    keys = (message.tenant_id, message.execution_id)
    match message:
        case Gate():
            engine().gate(*keys, message.job_id, message.task_token)
        case Completed():
            engine().completed(*keys, message.job_id, message.result, message.task_token)
        case Failed():
            engine().failed(*keys, message.job_id, message.failure, message.task_token)
        case Finish():
            engine().finish(*keys, message.task_token)
        case _:
            assert_never(message)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if event.get("source") == "aws.states":  # EventBridge: a state machine run ended
        engine().state_machine_ended(event.get("detail") or {})
        return {}
    # One processor per invocation: a failed record is retried alone (ReportBatchItemFailures).
    processor = BatchProcessor(event_type=EventType.SQS, model=EngineRecord)
    return process_partial_response(event=event, record_handler=handle_message, processor=processor, context=context)
