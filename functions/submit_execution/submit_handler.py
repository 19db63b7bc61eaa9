"""POST /api/execute: validate an execution plan, store it as pending, answer 202 with its id."""

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.http import PROBLEM_RESPONSES, create_app, reject_other_methods, require_json_body, tenant_id
from execution_api.models.request import SubmitExecutionRequest
from execution_api.models.response import ExecutionAccepted
from execution_api.observability import logger, metrics, tracer
from execution_api.service import execution_service

PATH = "/api/execute"
router = Router()


@router.post(
    PATH,
    summary="Submit an execution plan",
    description="Validates the plan, stores the execution and its jobs as pending, and answers at once.",
    status_code=HTTPStatus.ACCEPTED,
    responses={
        202: {
            "description": "Accepted: the execution is stored as pending.",
            "content": {"application/json": {"model": ExecutionAccepted}},
        },
        **PROBLEM_RESPONSES,
    },
    tags=["executions"],
    operation_id="submitExecution",
    middlewares=[require_json_body],
)
@tracer.capture_method
def submit_execution(request: Annotated[SubmitExecutionRequest, Body()]) -> Response[ExecutionAccepted]:
    execution, jobs = execution_service().submit(request, tenant_id(router.current_event))
    metrics.add_metric(name="ExecutionsAccepted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="JobsPerPlan", unit=MetricUnit.Count, value=len(jobs))
    logger.info("execution accepted", extra={"execution_id": execution.id, "jobs": len(jobs)})
    accepted = ExecutionAccepted.of(execution)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body=accepted,
        headers={"Location": accepted.status_url},
    )


reject_other_methods(router, PATH, allowed=("POST",))

app = create_app()
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
