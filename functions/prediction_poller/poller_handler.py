"""Every minute: pending provider predictions whose callback never came (or make run, where no provider can
reach a callback URL) go to a worker, which reads each, heartbeats its task or settles it (docs/providers.md)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.core.observability import logger, tracer
from execution_api.core.settings import load_settings
from execution_api.providers.callbacks import poll_due
from execution_api.providers.settings import PredictionSettings
from execution_api.providers.wiring import enqueue_check, predictions

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(PredictionSettings)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    sent = poll_due(predictions(), enqueue_check, load_settings(PredictionSettings).provider_poll_seconds)
    logger.info("predictions due a look", extra={"sent": sent})
    return {"sent": sent}
