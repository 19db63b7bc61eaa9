"""POST /api/execute/{id}/cancel: stop an unfinished execution; its unfinished jobs become cancelled, and each
provider prediction they still run gets a check on the work queue at once, which cancels it at the provider."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.api.paths import public_base_path
from execution_api.api.resolver import create_app, tenant_id
from execution_api.core.aws_clients import sqs_client
from execution_api.core.observability import logger, tracer
from execution_api.core.settings import load_settings
from execution_api.engine.scheduler import engine
from execution_api.engine.settings import CancelSettings
from execution_api.models.response import PROBLEM_RESPONSES, ExecutionCancelled
from execution_api.providers.checks import enqueue_checks

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
SETTINGS = load_settings(CancelSettings)

PATH = "/api/execute/<id>/cancel"
router = Router()


@router.post(
    PATH,
    summary="Cancel an execution",
    description=(
        "Running jobs are abandoned, pending jobs never start; the execution and its unfinished jobs become "
        "`cancelled`, and their running provider predictions are cancelled at the provider. A finished "
        "execution cannot be cancelled (409)."
    ),
    status_code=HTTPStatus.ACCEPTED.value,
    responses={
        202: {
            "description": "Cancelled.",
            "content": {"application/json": {"model": ExecutionCancelled}},
        },
        **{status: PROBLEM_RESPONSES[status] for status in (401, 404, 405, 409, 429, 500, 503)},
    },
    tags=["executions"],
    operation_id="cancelExecution",
)
def cancel_execution(id: str) -> Response[str]:  # noqa: A002 - the path parameter's name
    event = router.current_event
    predictions = engine().cancel(tenant_id(event), id)
    if predictions:
        check_now(predictions)
    cancelled = ExecutionCancelled.of(id, public_base_path(event))
    return Response(
        status_code=HTTPStatus.ACCEPTED.value,
        content_type="application/json",
        body=cancelled.model_dump_json(by_alias=True),
        headers={"Location": cancelled.status_url},
    )


def check_now(refs: list[str]) -> None:
    """A cancelled job's prediction spends credit for as long as it runs: a worker looks now and cancels it. A
    failure here is logged, not the client's: the cancel is done, and the poller's next look cancels them."""
    try:
        unsent = enqueue_checks(sqs_client(), SETTINGS.work_queue_url, refs)
    except Exception:  # an AWS error or a throttle, after boto3's retries
        logger.exception("the cancelled jobs' predictions were not sent to a worker; the poller cancels them")
        return
    if unsent:
        logger.warning(
            "some cancelled jobs' predictions were not sent to a worker; the poller cancels them",
            extra={"unsent": len(unsent), "predictions": len(refs)},
        )


app = create_app(methods={PATH: ("POST",)})
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
