"""API Gateway TOKEN authorizer: `Authorization: Bearer <api key>` -> the key's tenant, or 401.

It also returns the tenant's API Gateway key as `usageIdentifierKey` (API key source AUTHORIZER), so the
tenant's usage plan meters and throttles it apart from the other tenants.

The tenant id goes to the route functions in the authorizer context (requestContext.authorizer.tenantId).
The Allow covers every route of the stage, because API Gateway caches the answer per key.
The event (authorizationToken, methodArn) and the policy are plain dicts here: Powertools' data classes would
load every event class of their package, about 45 ms of this function's cold start (docs/benchmarks.md).
"""

import re
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.api.authorizer import AuthorizerSettings, api_key_store
from execution_api.core.environment import load_settings
from execution_api.core.observability import logger

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(AuthorizerSettings)

BEARER = re.compile(r"Bearer ([A-Za-z0-9._~+/-]+=*)")
# arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/<method>/<path>: the stage's ARN is kept.
METHOD_ARN = re.compile(r"(arn:[\w-]+:execute-api:[\w-]+:\d{12}:\w+/[^/]+)/.+")
# The exact message API Gateway turns into a 401 (its UNAUTHORIZED gateway response).
UNAUTHORIZED = "Unauthorized"


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    match = BEARER.fullmatch(event.get("authorizationToken") or "")
    grant = api_key_store().grant_for(match.group(1)) if match else None
    if grant is None:
        logger.info("API key refused", extra={"reason": "unknown or revoked key" if match else "not a bearer token"})
        raise PermissionError(UNAUTHORIZED)
    stage = METHOD_ARN.fullmatch(event.get("methodArn") or "")
    if stage is None:  # not API Gateway's event: refuse rather than allow something unknown
        logger.warning("API key refused", extra={"reason": "no method ARN of a REST API stage"})
        raise PermissionError(UNAUTHORIZED)
    tenant = grant.tenant_id
    policy: dict[str, Any] = {
        "principalId": tenant,
        "policyDocument": {
            "Version": "2012-10-17",
            # Every route of the stage: API Gateway caches this answer per key.
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{stage.group(1)}/*/*"]}],
        },
        "context": {"tenantId": tenant},
    }
    if grant.usage_key:  # the tenant's API Gateway key: its usage plan's rate and quota apply to this tenant alone
        policy["usageIdentifierKey"] = grant.usage_key
    logger.info("API key accepted", extra={"tenant_id": tenant})
    return policy
