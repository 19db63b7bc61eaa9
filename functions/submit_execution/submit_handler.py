"""POST /api/execute: validate an execution plan, store it as pending, answer 202 with its id."""

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.http import PROBLEM_RESPONSES, create_app, public_base_path, require_json_body, tenant_id
from execution_api.idempotency import CONFIG as IDEMPOTENCY_CONFIG
from execution_api.idempotency import HEADER as IDEMPOTENCY_HEADER
from execution_api.idempotency import REPLAYED_HEADER, idempotency_key, run_once
from execution_api.models.request import SubmitExecutionRequest
from execution_api.models.response import ExecutionAccepted, status_url
from execution_api.observability import logger, metrics, tracer
from execution_api.service import execution_service

PATH = "/api/execute"
IDEMPOTENCY_DOC = (
    "1 to 255 visible ASCII characters, unique per intended submission. A retry with the same key and body "
    "within 24 hours gets the first 202 again (with `Idempotent-Replayed: true`) and creates nothing."
)
router = Router()


@router.post(
    PATH,
    summary="Submit an execution plan",
    description=(
        "Validates the plan, stores the execution and its jobs as pending, and answers at once. "
        "Send an `Idempotency-Key` header to make retries safe: the first 202 is replayed for 24 hours "
        "with `Idempotent-Replayed: true`."
    ),
    status_code=HTTPStatus.ACCEPTED.value,
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
def submit_execution(
    request: Annotated[SubmitExecutionRequest, Body()],
    # Declared for the OpenAPI document; read below case-insensitively, as HTTP header names are.
    _idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, description=IDEMPOTENCY_DOC)] = None,
) -> Response[ExecutionAccepted]:
    event = router.current_event
    tenant = tenant_id(event)

    def accept() -> dict[str, Any]:
        execution, jobs = execution_service().submit(request, tenant)
        metrics.add_metric(name="ExecutionsAccepted", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="JobsPerPlan", unit=MetricUnit.Count, value=len(jobs))
        logger.info("execution accepted", extra={"execution_id": execution.id, "jobs": len(jobs)})
        return ExecutionAccepted.of(execution).model_dump(by_alias=True)

    key = idempotency_key(event.headers)
    accepted, replayed = run_once(tenant, key, event.json_body, accept) if key else (accept(), False)
    # Stored without it, so a replay links to where this request came in (stage or custom domain base path).
    body = ExecutionAccepted.model_validate(
        {**accepted, "statusUrl": public_base_path(event) + status_url(str(accepted["id"]))}
    )
    headers = {"Location": body.status_url}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(
        status_code=HTTPStatus.ACCEPTED.value,
        content_type="application/json",
        body=body,
        headers=headers,
    )


app = create_app(methods={PATH: ("POST",)}, submit_path=True)
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Lets an Idempotency-Key record of a request killed by the Lambda timeout expire with it.
    IDEMPOTENCY_CONFIG.register_lambda_context(context)
    return app.resolve(event, context)
