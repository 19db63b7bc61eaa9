"""POST /api/execute/{id}/cancel: stop an unfinished execution; its unfinished jobs become cancelled."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.engine.config import CancelSettings
from execution_api.engine.scheduler import engine
from execution_api.http import create_app, tenant_id
from execution_api.models.response import ExecutionCancelled
from execution_api.observability import logger, tracer
from execution_api.problem_json import PROBLEM_RESPONSES
from execution_api.public_paths import public_base_path
from execution_api.settings import load_settings

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(CancelSettings)

PATH = "/api/execute/<id>/cancel"
router = Router()


@router.post(
    PATH,
    summary="Cancel an execution",
    description=(
        "Running jobs are abandoned, pending jobs never start; the execution and its unfinished jobs become "
        "`cancelled`. A finished execution cannot be cancelled (409)."
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
    engine().cancel(tenant_id(event), id)
    cancelled = ExecutionCancelled.of(id, public_base_path(event))
    return Response(
        status_code=HTTPStatus.ACCEPTED.value,
        content_type="application/json",
        body=cancelled.model_dump_json(by_alias=True),
        headers={"Location": cancelled.status_url},
    )


app = create_app(methods={PATH: ("POST",)})
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
