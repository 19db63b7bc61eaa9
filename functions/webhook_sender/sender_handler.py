"""SQS consumer: one webhook attempt per message; a failed attempt queues the next one itself.

Only failures of the service (DynamoDB, KMS, SQS) make a message fail here: SQS then retries it and,
after the queue's maxReceiveCount, moves it to the dead-letter queue. What the receiver answers is
handled by the retry schedule, never by failing the message.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.core.observability import logger, metrics, tracer
from execution_api.core.settings import WebhookSenderSettings, load_settings
from execution_api.webhooks.delivery import webhook_deliveries
from execution_api.webhooks.messages import DeliveryRecord

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(WebhookSenderSettings)


def record_handler(record: DeliveryRecord) -> None:
    """One parsed task (a record that does not parse fails alone, before this)."""
    webhook_deliveries().attempt(record.body)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # One processor per invocation: a failed record is retried alone (ReportBatchItemFailures).
    processor = BatchProcessor(event_type=EventType.SQS, model=DeliveryRecord)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
