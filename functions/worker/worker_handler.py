"""The job worker (WorkerFunction and MediaWorkerFunction): runs jobs from its queue through executors and
reports with task tokens."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.core.aws_clients import engine_dynamodb_client, kms_client, stepfunctions_client
from execution_api.core.container import per_container
from execution_api.core.observability import logger, tracer
from execution_api.core.sealing import CredentialCipher
from execution_api.core.settings import load_settings
from execution_api.engine.media_executor import MediaSettings
from execution_api.engine.messages import PredictionCheck, WorkRecord
from execution_api.engine.settings import WorkerSettings
from execution_api.engine.worker import Worker
from execution_api.providers.settings import ProviderSettings
from execution_api.storage.jobs import JobStore

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(WorkerSettings)
load_settings(MediaSettings)  # outputs and inputs: both workers store outputs in the bucket
load_settings(ProviderSettings)  # both run provider jobs: the work queue deployed, the media queue under make run


@per_container
def worker() -> Worker:
    settings = load_settings(WorkerSettings)
    cipher = CredentialCipher(kms_client(), settings.credential_key_id)  # sealed the jobs' credentials
    store = JobStore(engine_dynamodb_client(), settings.executions_table_name)
    return Worker(store, stepfunctions_client(), settings, cipher=cipher)


def run_job(record: WorkRecord) -> None:
    """One parsed message (a record that does not parse fails alone, before this: engine/messages.py)."""
    message = record.body
    if isinstance(message, PredictionCheck):  # a provider's callback or the poller (docs/providers.md)
        from execution_api.providers.wiring import prediction_checker

        logger.info("prediction check", extra={"outcome": prediction_checker().check(message.prediction)})
        return
    logger.append_keys(executionId=message.job.execution_id, jobId=message.job.id, attempt=message.attempt)
    logger.info("job attempt", extra={"outcome": worker().handle(message)})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    processor = BatchProcessor(event_type=EventType.SQS, model=WorkRecord)
    return process_partial_response(event=event, record_handler=run_job, processor=processor, context=context)
