"""`make run`: the API on http://localhost:3000 the way API Gateway and Lambda would serve it.

A ministack subprocess (MOTO_PORT, default 5005; local/ministack.py) holds the template's tables, key,
queues and state machine, or, with BACKEND=moto, an embedded moto server on that same port; each
request becomes an API Gateway REST proxy event for the function whose route matches in
template.yaml, and unknown routes get the template's own gateway response.

This module is the API Gateway part only: HTTP itself is waitress's (local/http_server.py), and the
backends are started by local/backends.py.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import signal
import sys
import threading
import time
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.backends import BACKENDS, BackendWithEventSources, start_backend
from local.event_process import EventProcess
from local.events import rest_api_event
from local.http_server import RAW_HEADERS, READ_TIMEOUT, LocalHttpServer, header_lists
from local.stack import (
    SHELL_SETTINGS,
    FakeLambdaContext,
    LocalDeployment,
    apply_environment,
    provision,
    use_local_credentials,
)
from local.template import ACCOUNT_ID, REGION, ROOT, Template

OPENAPI_PATH = ROOT / "docs" / "openapi.json"
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024
LOCAL_TENANT = "local"  # API Gateway REST refuses larger payloads itself


class LocalApi:
    """Routes requests to the template's handlers. One lock per function: a Powertools resolver serves
    one event at a time, like one warm Lambda container per function, while different functions (a
    POST and a status read) run side by side. Not a pool of copies: they would share the layer's logger and
    metrics, mixing concurrent invocations' log keys and EMF (docs/local-development.md)."""

    def __init__(self, stack: LocalDeployment, authenticate: bool = False) -> None:
        self.stack = stack
        self.authorizer = stack.template.default_authorizer() if authenticate else None
        authorizer_id = self.authorizer.function_id if self.authorizer else None
        api = [f for f in stack.functions if f.routes or f.logical_id == authorizer_id]
        self._handlers = {f.logical_id: stack.handler(f) for f in api}  # the engine's are the event sources'
        self._locks = {f.logical_id: threading.Lock() for f in api}

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, str],
        body: bytes | None,
        multi_value_headers: dict[str, list[str]] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request as API Gateway would pass it on: `headers` has the last value of each field,
        `multi_value_headers` every value in order (from `headers` when not given)."""
        url = urlsplit(raw_path)
        request_id = str(uuid.uuid4())
        if body is not None and len(body) > API_GATEWAY_MAX_BODY:
            return self.gateway_response("REQUEST_TOO_LARGE", request_id)
        found = self.stack.route(method, url.path)
        if found is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        function, path_params, resource = found
        event = rest_api_event(
            method,
            url.path,
            resource=resource,
            path_parameters=path_params,
            headers=headers,
            multi_value_headers=multi_value_headers,
            query=parse_qs(url.query) if url.query else None,
            body=body,
            request_id=request_id,
            # Without authentication every caller is tenant 'local'; with it, the authorizer decides.
            tenant_id=None if self.authorizer is not None else LOCAL_TENANT,
        )
        if self.authorizer is not None and not self.stack.is_open(method, url.path):
            refusal = self.authorize(event, headers, request_id)
            if refusal is not None:
                return refusal
        with self._locks[function.logical_id]:
            result = self._handlers[function.logical_id](event, FakeLambdaContext(function, request_id))
        return to_http(result)

    def authorize(
        self, event: dict[str, Any], headers: dict[str, str], request_id: str
    ) -> tuple[int, dict[str, str], bytes] | None:
        """Run the template's TOKEN authorizer the way API Gateway does (without its cache): a refusal is
        the gateway's 401, an authorizer failure its 503, an Allow puts the context into the event."""
        assert self.authorizer is not None
        token = next((v for k, v in headers.items() if k.lower() == self.authorizer.header.lower()), None)
        if token is None or (self.authorizer.validation and not self.authorizer.validation.fullmatch(token)):
            return self.gateway_response("UNAUTHORIZED", request_id)
        context = event["requestContext"]
        method_arn = (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{context['apiId']}/{context['stage']}"
            f"/{event['httpMethod']}{event['path']}"
        )
        function = self.stack.function(self.authorizer.function_id)
        try:
            with self._locks[function.logical_id]:
                policy = self._handlers[function.logical_id](
                    {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn},
                    FakeLambdaContext(function, request_id),
                )
        except Exception as error:
            return self.gateway_response(
                "UNAUTHORIZED" if str(error) == "Unauthorized" else "AUTHORIZER_FAILURE", request_id
            )
        allowed = any(
            statement["Effect"] == "Allow"
            and any(fnmatch.fnmatchcase(method_arn, r) for r in _as_list(statement["Resource"]))
            for statement in policy["policyDocument"]["Statement"]
        )
        if not allowed:
            return self.gateway_response("ACCESS_DENIED", request_id)
        context["authorizer"] = {**policy.get("context", {}), "principalId": policy["principalId"]}
        return None

    def gateway_response(self, response_type: str, request_id: str) -> tuple[int, dict[str, str], bytes]:
        """Render a GatewayResponses entry of template.yaml as API Gateway would ($context.requestId only)."""
        spec = self.stack.template.gateway_response(response_type)
        # Static values only: the CORS headers are conditional (!If OneCorsOrigin), which only AWS resolves.
        headers = {
            name: value.strip("'")
            for name, value in spec.get("ResponseParameters", {}).get("Headers", {}).items()
            if isinstance(value, str)
        }
        body = spec["ResponseTemplates"]["application/json"].replace("$context.requestId", request_id)
        return int(spec["StatusCode"]), headers, body.encode("utf-8")


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def to_http(result: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(v) for v in values)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return int(result["statusCode"]), headers, raw


def swagger_page() -> str:
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(sys.modules["aws_lambda_powertools"].__file__ or "").parent / "event_handler/openapi/swagger_ui"
    return generate_swagger_html(
        spec=OPENAPI_PATH.read_text().replace("</", "<\\/"),
        swagger_js=(assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        swagger_css=(assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
    )


class GatewayApp:
    """The WSGI application behind waitress: what API Gateway does with a request that has been read."""

    def __init__(self, api: LocalApi) -> None:
        self.api = api

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        started = time.perf_counter()
        method = environ["REQUEST_METHOD"]
        target = environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/"
        length = int(environ.get("CONTENT_LENGTH") or 0)  # waitress has checked it (or set it for chunked)
        body = environ["wsgi.input"].read(length) if length else None
        path = urlsplit(target).path
        if method == "GET" and path == "/api/openapi.json":
            status, headers, raw = 200, {"Content-Type": "application/json"}, OPENAPI_PATH.read_bytes()
        elif method == "GET" and path == "/api/docs":
            status, headers, raw = 200, {"Content-Type": "text/html; charset=utf-8"}, swagger_page().encode()
        elif method == "GET" and path == "/":
            status, headers, raw = 302, {"Location": "/api/docs"}, b""
        else:
            fields = environ.get(RAW_HEADERS, [])
            status, headers, raw = self.api.handle(method, target, dict(fields), body, header_lists(fields))
        start_response(f"{status} {_reason(status)}", [*headers.items(), ("Content-Length", str(len(raw)))])
        elapsed = (time.perf_counter() - started) * 1000
        sys.stderr.write(f"{method} {target} -> {status} ({elapsed:.1f} ms)\n")
        return [b"" if method == "HEAD" else raw]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def serve(
    port: int,
    backend_port: int,
    host: str = "127.0.0.1",
    api_key: str | None = None,
    backend: str = "moto",
    keep_shell_settings: bool = False,
    read_timeout: int = READ_TIMEOUT,
    engine_process: bool = False,
) -> tuple[LocalHttpServer, Any, LocalDeployment]:
    """Start the backend (moto or ministack, on backend_port) and the API; returns (http server, backend
    server, stack) for tests to stop.

    With `api_key`, authentication is on: that key is stored (hashed) for tenant "local", and every
    request goes through the template's authorizer, so keys made with `make api-key` work too.
    `read_timeout`: seconds a connection may send nothing before the server closes it. `engine_process`: the
    event sources in a process of their own (make run's), else in this one (the tests')."""
    template = Template()
    event_process = EventProcess.fork(template) if engine_process else None  # first: make run has one thread yet
    use_local_credentials()
    backend_server = start_backend(backend, backend_port)
    endpoint = f"http://127.0.0.1:{backend_port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    # moto needs seconds to answer a 500-job Query; the functions' 2 s read timeout is for DynamoDB.
    os.environ.setdefault("CLIENT_READ_TIMEOUT_SECONDS", "30")
    stack = provision(template, endpoint_url=endpoint)
    apply_environment(stack, keep_shell_settings=keep_shell_settings)
    # The engine: streams and queues to the functions.
    backend_server = BackendWithEventSources(backend_server, stack, endpoint, event_process)
    api = LocalApi(stack, authenticate=bool(api_key))  # loads the handlers, and so the layer's code
    if api_key:
        from execution_api.core.aws_clients import dynamodb_client
        from execution_api.storage.api_keys import ApiKeyStore

        store = ApiKeyStore(dynamodb_client(), stack.names["ApiKeysTable"])
        if store.tenant_for(api_key) is None:
            store.create("local", api_key)
    httpd = LocalHttpServer(GatewayApp(api), host, port, read_timeout=read_timeout).start()
    return httpd, backend_server, stack


STOP_SECONDS = 3.0  # after the first SIGTERM or Ctrl-C, what stopping cleanly may take before the exit


def _exit_soon(code: int) -> None:
    """The process ends STOP_SECONDS from now whatever is still running (a job of minutes, a handler
    waiting on a backend that is gone): stopping must never hang."""
    timer = threading.Timer(STOP_SECONDS, lambda: os._exit(code))
    timer.daemon = True
    timer.start()


def _stop_on_signal(*_: Any) -> None:
    _exit_soon(0)
    sys.exit(0)


def main() -> None:
    # A kill (SIGTERM) exits like Ctrl-C, so the backend is stopped too: by the finally below once
    # serving, by local.ministack's atexit hook while still starting. Either way the process ends within
    # STOP_SECONDS: its daemon threads (event sources, the state machine interpreter) are not waited for.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    port = int(os.environ.get("PORT") or 3000)
    backend_port = int(os.environ.get("MOTO_PORT") or 5005)
    api_key = os.environ.get("LOCAL_API_KEY") or None
    read_timeout = int(os.environ.get("READ_TIMEOUT") or READ_TIMEOUT)
    backend = os.environ.get("BACKEND") or "ministack"
    if backend not in BACKENDS:
        raise SystemExit(f"BACKEND={backend}: one of {', '.join(BACKENDS)}")
    overridden = sorted(name for name in SHELL_SETTINGS if name in os.environ)  # before the template's are set
    authorizer = Template().default_authorizer()
    if api_key and authorizer and authorizer.validation and not authorizer.validation.fullmatch(f"Bearer {api_key}"):
        raise SystemExit("LOCAL_API_KEY does not fit the authorizer's header pattern: use A-Z a-z 0-9 - . _ ~ + /")
    httpd, backend_server, stack = serve(
        port,
        backend_port,
        api_key=api_key,
        backend=backend,
        keep_shell_settings=True,
        read_timeout=read_timeout,
        engine_process=True,
    )
    print(f"Execution API on http://localhost:{port}  (POST /api/execute, GET /api/execute/{{id}}/status)")
    if api_key:
        print(
            "Authentication ON: send Authorization: Bearer $LOCAL_API_KEY (tenant 'local') or a key from make api-key"
        )
    else:
        print("Authentication off (set LOCAL_API_KEY to turn it on); every execution belongs to tenant 'local'")
    print(f"OpenAPI: http://localhost:{port}/api/openapi.json   Swagger UI: http://localhost:{port}/api/docs")
    print("Settings: template.yaml" + (f", from your shell: {', '.join(overridden)}" if overridden else ""))
    print(f"{backend} (DynamoDB, KMS): http://127.0.0.1:{backend_port}   tables: {', '.join(stack.table_names())}")
    if backend == "ministack":
        print(f"  ministack's log: {backend_server.log_path}")
    print(
        "  e.g. AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws dynamodb scan --region us-east-1"
        f" --endpoint-url http://127.0.0.1:{backend_port} --table-name {stack.table_names()[0]}"
    )
    print("Ctrl-C stops.", flush=True)
    code = 0
    try:
        # Woken twice a second: a signal may be delivered to any thread, and Python runs its handler only
        # in the main thread, once that thread wakes. A wait with no timeout would never wake (a make run
        # that outlived its SIGTERM for an hour). Without its event sources make run stops, and says why.
        while (ended := backend_server.sources.returncode) is None:
            time.sleep(0.5)
        print(f"make run: its event sources' process ended ({ended}); stopping. Its output is above.", flush=True)
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        _exit_soon(code)
        httpd.shutdown()
        backend_server.stop()
        sys.stdout.flush()
        os._exit(code)  # nothing left to wait for: threads still running are cut off, as Lambda would


if __name__ == "__main__":
    main()
