"""DynamoDB stream consumer: an execution item that has just ended with a webhook URL gets its delivery queued;
so does a job item that has just ended and asked for its own webhook (params.sendJobWebhook).

The template's FilterCriteria passes only such records; the same test runs here for runtimes that do
not filter. A redelivered record queues nothing new (the claim on the item, see webhooks.delivery).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.core.observability import logger, metrics, tracer
from execution_api.core.settings import WebhookSettings, load_settings
from execution_api.storage.stream import item_change
from execution_api.webhooks.delivery import is_terminal_transition, webhook_deliveries

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(WebhookSettings)


def record_handler(record: DynamoDBRecord) -> None:
    change = item_change(record.raw_event)
    if change is None or not is_terminal_transition(change):
        return
    outcome = webhook_deliveries().enqueue(change.tenant_id, change.execution_id, change.job_id)
    logger.info(
        "webhook delivery", extra={"executionId": change.execution_id, "jobId": change.job_id, "outcome": outcome.value}
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # One processor per invocation, as the engine's, the workers' and the sender's: no state kept between batches.
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
