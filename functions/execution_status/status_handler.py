"""GET /api/execute/{id}/status: an execution and its jobs, as the client may see them."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.http import PROBLEM_RESPONSES, create_app, tenant_id
from execution_api.models.response import ExecutionStatus
from execution_api.observability import logger, tracer
from execution_api.status import status_service

PATH = "/api/execute/<id>/status"
router = Router()


@router.get(
    PATH,
    summary="Read an execution's status",
    responses={
        200: {
            "description": "The execution and its jobs.",
            "content": {"application/json": {"model": ExecutionStatus}},
        },
        **{status: PROBLEM_RESPONSES[status] for status in (401, 404, 405, 429, 500, 503)},
    },
    tags=["executions"],
    operation_id="getExecutionStatus",
)
@tracer.capture_method
def get_execution_status(id: str) -> Response[str]:  # noqa: A002 - the path parameter's name
    execution, jobs = status_service().status(tenant_id(router.current_event), id)
    return Response(
        status_code=HTTPStatus.OK.value,
        content_type="application/json",
        body=ExecutionStatus.of(execution, jobs).model_dump_json(by_alias=True),
    )


app = create_app(methods={PATH: ("GET",)})
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
