"""The engine's queue consumer: the gate, completed, failed and finish messages the state machine sends
with its task tokens (docs/engine.md), and Step Functions' status-change events (timeouts, aborts)."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.core.observability import logger, tracer
from execution_api.core.settings import load_settings
from execution_api.engine.config import GateSettings
from execution_api.engine.scheduler import engine

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(GateSettings)


def handle_message(record: SQSRecord) -> None:
    message: dict[str, Any] = json.loads(record.body)
    action = message.get("action")
    keys = (message["tenantId"], message["executionId"])
    logger.append_keys(executionId=message["executionId"], jobId=message.get("jobId"), action=action)
    if action == "gate":
        engine().gate(*keys, message["jobId"], message["taskToken"])
    elif action == "completed":
        engine().completed(*keys, message["jobId"], message.get("result"), message["taskToken"])
    elif action == "failed":
        engine().failed(*keys, message["jobId"], message.get("failure"), message["taskToken"])
    elif action == "finish":
        engine().finish(*keys, message["taskToken"])
    else:
        raise ValueError(f"unknown engine action {action!r}")  # goes to the dead-letter queue after retries


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if event.get("source") == "aws.states":  # EventBridge: a state machine run ended
        engine().state_machine_ended(event.get("detail") or {})
        return {}
    # One processor per invocation: a failed record is retried alone (ReportBatchItemFailures).
    return process_partial_response(
        event=event, record_handler=handle_message, processor=BatchProcessor(event_type=EventType.SQS), context=context
    )
