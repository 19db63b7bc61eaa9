"""Starts the engine: each new execution item in the executions table's stream starts one Step Functions
execution, named from tenant and execution id, so a redelivered record never starts it twice."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.core.observability import logger, tracer
from execution_api.core.settings import load_settings
from execution_api.engine.scheduler import engine
from execution_api.engine.settings import StarterSettings
from execution_api.storage.stream import item_change

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(StarterSettings)


def start_execution(record: DynamoDBRecord) -> None:
    change = item_change(record.raw_event)
    # The event source mapping's filter already keeps only inserted execution items; checked again here.
    if change is None or change.event != "INSERT" or change.job_id is not None:
        return
    logger.append_keys(executionId=change.execution_id)
    arn = engine().start(change.tenant_id, change.execution_id)
    logger.info("execution started", extra={"stateMachineExecutionArn": arn})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event,
        record_handler=start_execution,
        processor=BatchProcessor(event_type=EventType.DynamoDBStreams),
        context=context,
    )
