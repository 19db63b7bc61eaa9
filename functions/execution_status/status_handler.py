"""GET /api/execute/{id}/status: an execution and its jobs, as the client may see them.

The answer carries a strong ETag; a poll that sends it back in If-None-Match gets 304 with no body.
This module loads only the read side (execution_api.api.status), never the submit path, and routes its one
route itself (execution_api.api.rest): Powertools' event handler (about 50 ms of a cold import) is loaded
only by `make openapi`, through `openapi_router`. Nor does it load pydantic: the body is rendered by
execution_api.models.status_view, byte for byte the ExecutionStatus model's that OpenAPI documents."""

import re
from collections.abc import Mapping
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.api import rest
from execution_api.api.etags import none_match, strong_etag, windowed_etag
from execution_api.api.status import StatusSettings, status_service
from execution_api.core.environment import load_settings
from execution_api.core.observability import logger, tracer
from execution_api.models.status_view import status_json
from execution_api.storage.outputs import OutputLinkSettings, output_links

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(StatusSettings)
load_settings(OutputLinkSettings)

PATH = "/api/execute/<id>/status"  # as OpenAPI declares it (Powertools' syntax)
ROUTE = re.compile(r"/api/execute/([^/]+)/status/?")  # the same path; a trailing slash is the same route
METHODS = ("GET",)
ETAG_DOC = (
    "A validator of this body (weak while it holds presigned output URLs): send it back in If-None-Match "
    "to get 304 while nothing changed."
)


def execution_status(event: Mapping[str, Any], execution_id: str) -> dict[str, Any]:
    tenant = rest.tenant_id(event)
    execution, jobs = status_service().status(tenant, execution_id)
    body = status_json(execution, jobs)
    links = output_links()
    # With outputs in the bucket, the body holds presigned URLs that change with time: the tag covers the
    # stored state and the signing window instead (docs/api.md, "ETag and presigned URLs").
    presigned = links.refers_to_outputs(body)
    etag = windowed_etag(body.encode("utf-8"), links.window()) if presigned else strong_etag(body.encode("utf-8"))
    if none_match(_field_values(event, "if-none-match"), etag):
        return rest.result(HTTPStatus.NOT_MODIFIED.value, "", {"ETag": etag})
    if presigned:
        execution = replace(execution, result=links.execution_result(execution.result, tenant))
        jobs = [replace(job, result=links.job_result(job.result, tenant)) for job in jobs]
        body = status_json(execution, jobs)
    return rest.result(HTTPStatus.OK.value, body, {"Content-Type": "application/json", "ETag": etag})


def _field_values(event: Mapping[str, Any], name: str) -> list[str]:
    """Every line of a header field, names compared case-insensitively (API Gateway keeps each line in
    multiValueHeaders, and only the last in headers)."""
    multi = event.get("multiValueHeaders") or {}
    values = [v for key, lines in multi.items() if key.lower() == name for v in lines or ()]
    if values:
        return values
    return [v for key, v in (event.get("headers") or {}).items() if key.lower() == name and v is not None]


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return rest.answer(event, ROUTE, METHODS, execution_status)


def openapi_router() -> Any:
    """The route as docs/openapi.json documents it, for `make openapi` (tools/openapi.py) only."""
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.api_gateway import Router

    from execution_api.models.response import PROBLEM_RESPONSES, ExecutionStatus

    router = Router()

    @router.get(
        PATH,
        summary="Read an execution's status",
        description=(
            "The answer carries an `ETag`. A request whose `If-None-Match` lists it (or is `*`) gets "
            "`304 Not Modified` with no body while the execution is unchanged: poll with it. Output URLs are "
            "presigned GETs, valid for at least half of their expiry after any answer, 304 included."
        ),
        responses={
            200: {
                "description": "The execution and its jobs.",
                "content": {"application/json": {"model": ExecutionStatus}},
                "headers": {"ETag": {"description": ETAG_DOC, "schema": {"type": "string"}}},
            },
            304: {
                "description": "Not Modified: `If-None-Match` matched the current `ETag`; no body.",
                "headers": {"ETag": {"description": ETAG_DOC, "schema": {"type": "string"}}},
            },
            **{status: PROBLEM_RESPONSES[status] for status in (401, 404, 405, 429, 500, 503)},
        },
        tags=["executions"],
        operation_id="getExecutionStatus",
    )
    def get_execution_status(id: str) -> Response[str]:  # noqa: A002 - the path parameter's name
        """Documented only: lambda_handler answers the route (execution_status)."""
        raise NotImplementedError

    return router
