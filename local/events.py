"""API Gateway REST (v1) proxy events, shaped like the ones API Gateway sends to Lambda."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any


def rest_api_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    multi_value_headers: dict[str, list[str]] | None = None,
    query: dict[str, list[str]] | None = None,
    body: bytes | str | None = None,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """`tenant_id` fills the authorizer's context, as API Gateway does once the authorizer allowed the call;
    without it the functions refuse the request (fail closed)."""
    headers = dict(headers or {})
    raw = body.encode("utf-8") if isinstance(body, str) else body
    encoded_body: str | None = None
    is_base64 = False
    if raw is not None:
        try:
            encoded_body = raw.decode("utf-8")
        except UnicodeDecodeError:
            encoded_body, is_base64 = base64.b64encode(raw).decode("ascii"), True
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_value_headers or {name: [value] for name, value in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource or path,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "path": path,
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "local",
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(time.time() * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent") or headers.get("user-agent")},
            "domainName": "localhost",
            "apiId": "local",
            **({"authorizer": {"tenantId": tenant_id, "principalId": tenant_id}} if tenant_id else {}),
        },
        "body": encoded_body,
        "isBase64Encoded": is_base64,
    }
