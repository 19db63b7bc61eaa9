"""`make invoke EVENT=events/<file>.json [FUNCTION=<logical id>]`: what `sam local invoke` does, without
Docker. The event goes through the real handler against an embedded moto (or, when AWS_ENDPOINT_URL
is set, against that endpoint, e.g. a running `make run` on http://127.0.0.1:5005)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from local.stack import FakeLambdaContext, LocalDeployment, apply_environment, provision, use_local_credentials
from local.template import Function


def pick_function(stack: LocalDeployment, event: dict[str, Any], logical_id: str | None) -> Function:
    if logical_id:
        return stack.function(logical_id)
    # By path, or by resource as API Gateway does (behind a custom domain the path carries its base path).
    method = event.get("httpMethod", "")
    found = stack.route(method, event.get("path", "")) or stack.route(method, event.get("resource") or "")
    if found is None:
        raise SystemExit(
            f"no function in template.yaml routes {event.get('httpMethod')} {event.get('path')}; pass FUNCTION="
        )
    return found[0]


def invoke(stack: LocalDeployment, event: dict[str, Any], logical_id: str | None = None) -> dict[str, Any]:
    function = pick_function(stack, event, logical_id)
    context = event.get("requestContext")
    if isinstance(context, dict) and "httpMethod" in event:
        # As the authorizer would: an event without a tenant is run as tenant 'local' (make invoke only).
        context.setdefault("authorizer", {"tenantId": "local", "principalId": "local"})
    request_id = event.get("requestContext", {}).get("requestId", "local-invoke")
    try:
        result: dict[str, Any] = stack.handler(function)(event, FakeLambdaContext(function, request_id))
    except Exception as error:
        return {"errorMessage": str(error), "errorType": type(error).__name__}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("event", type=Path)
    parser.add_argument("--function", default=os.environ.get("FUNCTION") or None)
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    use_local_credentials()
    moto = None
    # Like `sam local invoke`: the function's logs and metrics on stderr, its response alone on stdout.
    with contextlib.redirect_stdout(sys.stderr):
        if not endpoint:
            from moto import mock_aws

            moto = mock_aws()
            moto.start()
        try:
            stack = provision(endpoint_url=endpoint)
            apply_environment(stack, keep_shell_settings=True)
            result = invoke(stack, event, args.function)
        finally:
            if moto is not None:
                moto.stop()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
