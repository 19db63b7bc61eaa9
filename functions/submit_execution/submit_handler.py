"""POST /api/execute: validate an execution plan, store it as pending, answer 202 with its id."""

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.api.paths import public_base_path
from execution_api.api.resolver import check_envelope, create_app, tenant_id
from execution_api.core import exact_json
from execution_api.core.observability import logger, metrics, tracer
from execution_api.core.settings import SubmitSettings, load_settings
from execution_api.intake.idempotency import CONFIG as IDEMPOTENCY_CONFIG
from execution_api.intake.idempotency import REPLAYED_HEADER, idempotency_key, run_once
from execution_api.intake.rules import PlanLimits
from execution_api.intake.submission import submission_service
from execution_api.intake.validation import read_submission
from execution_api.models.response import PROBLEM_RESPONSES, ExecutionAccepted, status_url

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(SubmitSettings)

PATH = "/api/execute"
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
)
def submit_execution() -> Response[str]:
    # The body is read here, in one pass (execution_api.intake.validation), not by the resolver: 413 and 415
    # come first whatever the body holds, and the plan is parsed once with its numbers exact.
    # docs/openapi.json gets the body's schema from SubmitExecutionRequest (tools/openapi.py).
    event = router.current_event
    tenant = tenant_id(event)
    settings = load_settings(SubmitSettings)
    check_envelope(event, settings.max_body_bytes)
    key = idempotency_key(event.raw_event)
    limits = PlanLimits.from_settings(settings)
    body, plan = read_submission(
        event.body, bool(event.is_base64_encoded), limits, allow_insecure_webhooks=settings.allow_insecure_webhooks
    )

    def accept() -> dict[str, Any]:
        execution, jobs = submission_service().submit(plan, tenant)
        metrics.add_metric(name="ExecutionsAccepted", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="JobsPerPlan", unit=MetricUnit.Count, value=len(jobs))
        logger.info("execution accepted", extra={"execution_id": execution.id, "jobs": len(jobs)})
        return ExecutionAccepted.of(execution).model_dump(by_alias=True)

    accepted, replayed = run_once(tenant, key, exact_json.dumps(body), accept) if key else (accept(), False)
    # Stored without it, so a replay links to where this request came in (stage or custom domain base path).
    accepted = {**accepted, "statusUrl": public_base_path(event) + status_url(str(accepted["id"]))}
    headers = {"Location": accepted["statusUrl"]}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(
        status_code=HTTPStatus.ACCEPTED.value,
        content_type="application/json",
        body=json.dumps(accepted, separators=(",", ":")),
        headers=headers,
    )


app = create_app(methods={PATH: ("POST",)})
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Lets an Idempotency-Key record of a request killed by the Lambda timeout expire with it.
    IDEMPOTENCY_CONFIG.register_lambda_context(context)
    return app.resolve(event, context)
