"""The product's worker: runs jobs from the work queue through executors and reports with task tokens."""

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.engine.config import engine_dynamodb_client, engine_settings, stepfunctions_client
from execution_api.engine.store import JobStore
from execution_api.engine.worker import Worker
from execution_api.observability import logger, tracer


@lru_cache(maxsize=1)
def worker() -> Worker:
    settings = engine_settings()
    return Worker(JobStore(engine_dynamodb_client(), settings.executions_table_name), stepfunctions_client(), settings)


def run_job(record: SQSRecord) -> None:
    message: dict[str, Any] = json.loads(record.body)
    job = message.get("job") or {}
    logger.append_keys(executionId=job.get("executionId"), jobId=job.get("id"), attempt=message.get("attempt"))
    logger.info("job attempt", extra={"outcome": worker().handle(message)})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event, record_handler=run_job, processor=BatchProcessor(event_type=EventType.SQS), context=context
    )
