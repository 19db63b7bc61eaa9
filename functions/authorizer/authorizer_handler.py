"""API Gateway TOKEN authorizer: `Authorization: Bearer <api key>` -> the key's tenant, or 401.

It also returns the tenant's API Gateway key as `usageIdentifierKey` (API key source AUTHORIZER), so the
tenant's usage plan meters and throttles it apart from the other tenants.

The tenant id goes to the route functions in the authorizer context (requestContext.authorizer.tenantId).
The Allow covers every route of the stage, because API Gateway caches the answer per key.
"""

import re
from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.api_keys import api_key_store
from execution_api.observability import logger
from execution_api.settings import AuthorizerSettings, load_settings

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(AuthorizerSettings)

BEARER = re.compile(r"Bearer ([A-Za-z0-9._~+/-]+=*)")
# The exact message API Gateway turns into a 401 (its UNAUTHORIZED gateway response).
UNAUTHORIZED = "Unauthorized"


@logger.inject_lambda_context
@event_source(data_class=APIGatewayAuthorizerTokenEvent)
def lambda_handler(event: APIGatewayAuthorizerTokenEvent, context: LambdaContext) -> dict[str, Any]:
    match = BEARER.fullmatch(event.authorization_token or "")
    grant = api_key_store().grant_for(match.group(1)) if match else None
    if grant is None:
        logger.info("API key refused", extra={"reason": "unknown or revoked key" if match else "not a bearer token"})
        raise PermissionError(UNAUTHORIZED)
    tenant = grant.tenant_id
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=tenant,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"tenantId": tenant},
        # The tenant's API Gateway key: its usage plan's rate and quota apply to this tenant alone.
        usage_identifier_key=grant.usage_key,
    )
    policy.allow_all_routes()
    logger.info("API key accepted", extra={"tenant_id": tenant})
    return policy.asdict()
