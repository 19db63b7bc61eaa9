"""POST /api/providers/{provider}/callbacks/{ref}: a provider's signed "prediction finished" (docs/providers.md).
No API key: the provider's signature is checked instead; anything unverified is 401 and changes nothing."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.api.resolver import create_app
from execution_api.core.errors import Unauthenticated
from execution_api.core.observability import logger, tracer
from execution_api.core.settings import load_settings
from execution_api.models.response import PROBLEM_RESPONSES
from execution_api.providers.settings import PredictionSettings
from execution_api.providers.signatures import BadSignature
from execution_api.providers.wiring import callback_service

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(PredictionSettings)

PATH = "/api/providers/<provider>/callbacks/<ref>"
router = Router()


@router.post(
    PATH,
    summary="A provider's callback (Replicate, fal)",
    description=(
        "Called by the provider, never by clients: the URL was given with the prediction. Replicate's Standard "
        "Webhooks signature or fal's ED25519 signature is verified; a malformed or unknown ref, a bad, missing or "
        "stale signature, or a signed message received before (a replay) is 401 and changes nothing. A new "
        "message about the same prediction (a provider's retry, a late callback) is answered 200 and applied once."
    ),
    responses={
        200: {"description": "Received."},
        **{status: PROBLEM_RESPONSES[status] for status in (401, 405, 500, 503)},
    },
    tags=["providers"],
    operation_id="providerCallback",
    security=[],
)
def provider_callback(provider: str, ref: str) -> Response[str]:
    event = router.current_event
    body = (event.decoded_body or "").encode("utf-8")
    try:
        outcome = callback_service().receive(provider, ref, body, dict(event.headers or {}))
    except BadSignature:
        logger.warning("provider callback refused", extra={"provider": provider[:32]})
        raise Unauthenticated("the callback's signature does not verify") from None
    logger.info("provider callback", extra={"provider": provider, "outcome": outcome})
    return Response(status_code=HTTPStatus.OK.value, content_type="application/json", body='{"received":true}')


app = create_app(methods={PATH: ("POST",)})
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
