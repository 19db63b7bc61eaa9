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
from execution_api.webhooks.delivery import is_terminal_transition, webhook_deliveries

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(WebhookSettings)

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    if change is None:
        return
    new_image = change.new_image or {}
    if not is_terminal_transition(new_image, change.old_image or {}):
        return
    execution_id = str(new_image["executionId"])
    job_id = str(new_image["jobId"]) if str(new_image["sk"]).startswith("JOB#") else None  # a job's own webhook
    # The key says the tenant (TENANT#<tenant>#EXECUTION#<id>): a job item carries no tenantId.
    tenant_id = str(new_image["pk"]).removeprefix("TENANT#").removesuffix(f"#EXECUTION#{execution_id}")
    outcome = webhook_deliveries().enqueue(tenant_id, execution_id, job_id)
    logger.info("webhook delivery", extra={"executionId": execution_id, "jobId": job_id, "outcome": outcome.value})


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
