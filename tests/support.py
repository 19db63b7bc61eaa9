"""Helpers shared by the test modules (no fixtures: those live in conftest.py): the handlers called as API
Gateway would (Api) and what they answered, `make run`'s server on free ports, table reads that page,
request bodies, and failures injected into a client."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pytest

from local.events import rest_api_event
from local.ministack import free_port
from local.stack import FakeLambdaContext, LocalDeployment, forget_cached_configuration, provision, provision_tables
from local.template import REGION, ROOT

if TYPE_CHECKING:
    from local.http_server import LocalHttpServer

# The AWS endpoint the tests run against: moto in process, or one ministack server (make test-ministack).
TEST_BACKEND = os.environ.get("TEST_BACKEND") or "moto"
TEST_BACKENDS = ("moto", "ministack")
# moto's settings for the tests' mocks: keep boto3's default session from one mock to the next, so its
# clients read each service model once per process (100 ms for DynamoDB's) instead of once per test.
# moto resets it by default lest fake credentials reach AWS later; nothing here can reach AWS.
MOTO_CONFIG: Any = {"core": {"reset_boto3_session": False}}

# The smallest valid submission, as the original design's smoke curl sends it.
SEED = b'{"executionPlan":{"jobs":[],"rootJobIds":[]}}'


@dataclass
class Answer:
    """What the API answered: a handler's response (tests/integration) or an HTTP response (tests/http)."""

    status: int
    headers: dict[str, str]
    raw: bytes

    @cached_property
    def body(self) -> Any:
        """The body as JSON (None when empty)."""
        return json.loads(self.raw) if self.raw else None

    @property
    def codes(self) -> list[str]:
        return [e["code"] for e in self.body.get("errors", [])]

    def violation(self, code: str) -> dict[str, Any]:
        matches = [e for e in self.body.get("errors", []) if e["code"] == code]
        assert matches, f"no violation {code!r} in {self.body}"
        return matches[0]


SUBMIT = "SubmitExecutionFunction"
STATUS = "ExecutionStatusFunction"
JSON = {"Content-Type": "application/json"}
LOCAL_TENANT = "local"  # what make run and make invoke put into events when authentication is off


class Api:
    """Calls the template's handlers with API Gateway REST events, as API Gateway would."""

    def __init__(self, stack: LocalDeployment) -> None:
        self.stack = stack

    def call(self, function_id: str, event: dict[str, Any]) -> Answer:
        function = self.stack.function(function_id)
        handler = self.stack.handler(function)
        result = handler(event, FakeLambdaContext(function, event["requestContext"]["requestId"]))
        headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
        headers.update(result.get("headers") or {})
        return Answer(result["statusCode"], headers, (result.get("body") or "").encode())

    def submit(
        self, body: Any, *, headers: dict[str, str] | None = None, raw: str | bytes | None = None, method: str = "POST"
    ) -> Answer:
        payload = raw if raw is not None else json.dumps(body)
        event = rest_api_event(
            method, "/api/execute", headers=JSON if headers is None else headers, body=payload, tenant_id=LOCAL_TENANT
        )
        return self.call(SUBMIT, event)

    def status(self, execution_id: str, *, tenant: str | None = None, method: str = "GET") -> Answer:
        event = rest_api_event(
            method,
            f"/api/execute/{execution_id}/status",
            resource="/api/execute/{id}/status",
            path_parameters={"id": execution_id},
            tenant_id=tenant or LOCAL_TENANT,
        )
        return self.call(STATUS, event)


class KeptMoto:
    """moto with the template provisioned, kept from one test to the next while consecutive tests use it
    (the `aws` fixture; conftest stops it before a test that does not). Provisioning costs a fresh mock
    hundreds of milliseconds (moto makes an RSA key for the KMS key); emptying what a test leaves costs
    tens. moto's state is the process's, shared with any make run server the tests start: hence stopped
    (and so reset) before any other test runs, never kept across a module boundary it does not need."""

    def __init__(self) -> None:
        self._mock: Any = None
        self._stack: LocalDeployment | None = None

    def deployment(self) -> LocalDeployment:
        """The provisioned template, empty: as a fresh mock would give it."""
        if self._stack is not None and not empty(self._stack):
            self.stop()  # a test made what emptying cannot undo: start again from nothing
        if self._mock is None or self._stack is None:
            from moto import mock_aws

            from local import moto_transactions

            self._mock = mock_aws(config=MOTO_CONFIG)
            self._mock.start()
            # The moto `make run BACKEND=moto` uses: a table copied once per transaction, not once per
            # action (local/moto_transactions.py; the storage tests' 250-job plans took minutes without).
            moto_transactions.enable()
            self._stack = provision()
        return self._stack

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()  # moto forgets every table, key, queue and object
            self._mock, self._stack = None, None


def empty(stack: LocalDeployment) -> bool:
    """What a test can leave in the provisioned template, gone: the tables dropped and made again, the
    queues purged, the buckets emptied. The key, queues, buckets and state machine stay (nothing under
    `aws` starts a state machine run: no event sources run there). False, and nothing done, when the test
    made what the template does not provision (a secret, another key): only a fresh moto forgets those."""
    import boto3

    secrets = boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    keys = boto3.client("kms", region_name=REGION).list_keys()["Keys"]
    if secrets or len(keys) != len(stack.template.of_type("AWS::KMS::Key")):
        return False

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for logical_id in stack.template.of_type("AWS::DynamoDB::Table"):
        dynamodb.delete_table(TableName=stack.names[logical_id])
    provision_tables(stack.template, stack, None)
    sqs = boto3.client("sqs", region_name=REGION)
    for logical_id in stack.template.of_type("AWS::SQS::Queue"):
        sqs.purge_queue(QueueUrl=stack.names[logical_id])
    s3 = boto3.client("s3", region_name=REGION)
    for logical_id in stack.template.of_type("AWS::S3::Bucket"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.names[logical_id]):
            if objects := [{"Key": o["Key"]} for o in page.get("Contents", [])]:
                s3.delete_objects(Bucket=stack.names[logical_id], Delete={"Objects": objects})
    return True


@dataclass
class Server:
    """`make run`'s server: its API's URL, its backend's (moto or ministack), and the provisioned template."""

    url: str
    backend_url: str
    stack: LocalDeployment

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read())

    def dynamodb(self) -> Any:
        """A client for the backend's endpoint, as a developer would point the AWS CLI at it."""
        import boto3

        return boto3.client(
            "dynamodb",
            endpoint_url=self.backend_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )

    def post(self, body: bytes, **headers: str) -> Answer:
        return self.request("POST", "/api/execute", body, {"Content-Type": "application/json", **headers})


@contextmanager
def running_server(
    api_key: str | None = None, read_timeout: int | None = None
) -> Iterator[tuple[Server, LocalHttpServer]]:
    """`make run`'s server and its backend on free ports; the process environment is restored after."""
    from local.http_server import READ_TIMEOUT
    from local.server import serve

    saved = dict(os.environ)
    port, backend_port = free_port(), free_port()
    httpd, backend, stack = serve(
        port, backend_port, api_key=api_key, backend=TEST_BACKEND, read_timeout=read_timeout or READ_TIMEOUT
    )
    try:
        yield Server(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{backend_port}", stack), httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        backend.stop()
        os.environ.clear()
        os.environ.update(saved)
        forget_cached_configuration()


def all_items(client: Any, table_name: str) -> list[dict[str, Any]]:
    """Every item of a table, every page of the scan, in DynamoDB's JSON shape."""
    pages = client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True)
    return [item for page in pages for item in page.get("Items", [])]


def stored_items(deployment: LocalDeployment, table: str = "ExecutionsTable") -> list[dict[str, Any]]:
    """Every item of one of the deployment's tables (its logical id), every page, in DynamoDB's JSON shape."""
    import boto3

    return all_items(boto3.client("dynamodb", region_name="us-east-1"), deployment.names[table])


def table_items(table: Any) -> list[dict[str, Any]]:
    """Every item of a boto3 Table resource, every page of the scan, as Python values."""
    request: dict[str, Any] = {"ConsistentRead": True}
    items: list[dict[str, Any]] = []
    while True:
        page = table.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def chain(n: int, **plan_fields: Any) -> dict[str, Any]:
    """A request body whose n jobs each depend on the one before."""
    jobs = [{"id": f"j{i}", "operation": "generateVideo", "dependsOn": [f"j{i - 1}"] if i else []} for i in range(n)]
    return {"executionPlan": {"jobs": jobs, **plan_fields}}


def fail_call(
    monkeypatch: pytest.MonkeyPatch,
    client: Any,
    operation: str,
    on_call: int,
    error: BaseException,
    *,
    after_it_ran: bool = False,
) -> list[int]:
    """Make the on_call-th call of client.operation raise error; the others go through. With after_it_ran,
    that call is made first (a write that was applied but whose answer was lost). Returns the call count."""
    calls = [0]
    real: Callable[..., Any] = getattr(client, operation)

    def wrapper(**kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] != on_call:
            return real(**kwargs)
        if after_it_ran:
            real(**kwargs)
        raise error

    monkeypatch.setattr(client, operation, wrapper)
    return calls


def plan(*jobs: dict[str, Any], **plan_fields: Any) -> dict[str, Any]:
    """A request body with these jobs (each defaulting to a valid operation)."""
    return {"executionPlan": {"jobs": [{"operation": "generateVideo", **job} for job in jobs], **plan_fields}}


def event_file(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    return event


def fill_the_disk_during_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Every download (an input, a provider's output) writes 16 bytes under tmp_path, then hits ENOSPC."""
    import errno
    import tempfile

    import execution_api.engine.fetch as fetch

    def copy_until_full(source: Any, file: Any, *args: Any) -> None:
        file.write(source.read(16))
        file.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fetch, "_copy", copy_until_full)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
