"""`make rehearse`: the built template deployed on ministack's CloudFormation, one execution run end to end
through the deployed API Gateway and Lambdas, then the stack torn down. No AWS account, no Docker.

It runs on the SAM CLI's venv (boto3, samtranslator, the SAM CLI's YAML reader), after `make build`:
1. the layer is installed for the emulator's own interpreter (tools/rehearsal_gaps.py says why), the
   functions' built folders and the layer are zipped into the emulator's S3, as `sam package` would;
2. SAM's transform of the built template, with the emulator's gaps applied (tools/rehearsal_gaps.py: each
   named, nothing else changed), is created as a stack and awaited;
3. a key is made the way docs/deployment.md says (`make api-key` against the stack, ENDPOINT=the emulator);
4. a 3-job plan is posted through the deployed API Gateway, and its status polled until it ends;
5. the stack is deleted and the emulator stopped, whatever happened.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from local import ministack
from local.template import REGION as TEMPLATE_REGION
from tools import api_keys, rehearsal_gaps

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
LOCK = ROOT / "layers" / "shared" / "requirements-lock.txt"
EMULATOR_PYTHON = ROOT / ".venv-ministack" / "bin" / "python"
STACK = "execution-api-rehearsal"
BUCKET = "execution-api-rehearsal-artifacts"
REGION = TEMPLATE_REGION  # the account and region ministack is started with (local/ministack.py)
STAGE = "dev"
SERVICES = (
    "cloudformation,s3,iam,sts,lambda,apigateway,dynamodb,dynamodbstreams,kms,sqs,stepfunctions,events,"
    "logs,cloudwatch,sns"
)
STACK_TIMEOUT_SECONDS = 300
EXECUTION_TIMEOUT_SECONDS = 180
# SimulatedExecutor on: the rehearsal's execution proves the deployed engine (stream, state machine, queues,
# engine and worker Lambdas), not ffmpeg, which the emulator could not run anyway (its Lambdas run on its own
# x86_64 interpreter; the media layer's ffmpeg is aarch64). A real stack keeps the parameter's default, false.
PARAMETERS = {"Stage": STAGE, "SimulatedExecutor": "true"}
PLAN = {
    "executionPlan": {
        "jobs": [
            {"id": "clip", "operation": "generateVideo", "params": {"prompt": "a cat", "simulate": {"ms": 50}}},
            {"id": "voice", "operation": "generateAudio", "params": {"text": "hello", "simulate": {"ms": 50}}},
            {"id": "merged", "operation": "merge", "dependsOn": ["clip", "voice"], "params": {"simulate": {"ms": 50}}},
        ]
    }
}


def say(line: str) -> None:
    print(f"rehearse: {line}", flush=True)


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.getvalue()


def emulator_layer() -> bytes:
    """The layer for ministack's interpreter: the locked packages (hashes checked) and the built execution_api."""
    with tempfile.TemporaryDirectory(prefix="rehearsal-layer-") as folder:
        target = Path(folder) / "python"
        subprocess.run(  # noqa: S603 - the emulator's interpreter, fixed arguments
            [str(EMULATOR_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--require-hashes", "--only-binary=:all:", "--target", str(target), "-r", str(LOCK)],
            check=True,
        )  # fmt: skip
        shutil.copytree(BUILD / "SharedLayer" / "python" / "execution_api", target / "execution_api")
        return zipped(Path(folder))


def sam_template() -> dict[str, Any]:
    """The built template as the SAM CLI reads it (short-form intrinsics in their long form)."""
    from samcli.yamlhelper import yaml_parse

    document: dict[str, Any] = yaml_parse((BUILD / "template.yaml").read_text())
    return document


def packaged(document: dict[str, Any], s3: Any) -> dict[str, Any]:
    """The functions' code and the layer uploaded, then SAM's transform, the state machine's definition inline."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    definitions: dict[str, str] = {}
    for name, resource in document["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            s3.put_object(Bucket=BUCKET, Key=f"{name}.zip", Body=zipped(BUILD / properties["CodeUri"]))
            properties["CodeUri"] = f"s3://{BUCKET}/{name}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            # The shared layer's wheels are for Lambda's platform: reinstalled for the emulator (a gap); any
            # other layer is zipped as built (pure Python; a layer with binary wheels needs the same as this one).
            built = emulator_layer() if name == "SharedLayer" else zipped(BUILD / properties["ContentUri"])
            s3.put_object(Bucket=BUCKET, Key=f"{name}.zip", Body=built)
            properties["ContentUri"] = f"s3://{BUCKET}/{name}.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            definitions[name] = (BUILD / properties["DefinitionUri"]).read_text()
            properties["DefinitionUri"] = f"s3://{BUCKET}/{name}.asl.json"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    transformed: dict[str, Any] = transform(document, {}, NoManagedPolicies())
    # The definition inline (DefinitionString, substituted by CloudFormation), as a packaged template may hold it.
    for name, text in definitions.items():
        machine = transformed["Resources"][name]["Properties"]
        machine.pop("DefinitionS3Location")
        machine["DefinitionString"] = text
    return transformed


def await_stack(cloudformation: Any, goal: str) -> str:
    """The stack's status once it is no longer in progress (or the timeout's)."""
    deadline = time.monotonic() + STACK_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            status: str = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
        except cloudformation.exceptions.ClientError:
            return "DELETE_COMPLETE"  # gone
        if not status.endswith("_IN_PROGRESS"):
            return status
        time.sleep(2)
    return f"still in progress after {STACK_TIMEOUT_SECONDS} s (wanted {goal})"


def failure_events(cloudformation: Any) -> list[str]:
    events = cloudformation.describe_stack_events(StackName=STACK)["StackEvents"]
    return [
        f"{e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
        for e in events
        if e["ResourceStatus"].endswith("_FAILED")
    ][:15]


def deploy(session: Any, endpoint: str) -> dict[str, str]:
    """Create the stack and return its outputs; raises with the failed resources' reasons."""
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    template = packaged(sam_template(), s3)
    for line in rehearsal_gaps.apply(template):
        say(f"gap {line}")
    say(f"{len(template['Resources'])} resources to create")
    s3.put_object(Bucket=BUCKET, Key="template.json", Body=json.dumps(template).encode())
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    started = time.monotonic()
    cloudformation.create_stack(
        StackName=STACK,
        TemplateURL=f"{endpoint}/{BUCKET}/template.json",
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in PARAMETERS.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = await_stack(cloudformation, "CREATE_COMPLETE")
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {status}:\n  " + "\n  ".join(failure_events(cloudformation)))
    stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    say(f"stack CREATE_COMPLETE in {time.monotonic() - started:.0f} s")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def make_key(endpoint: str, capture: io.StringIO) -> str:
    """`make api-key TENANT=rehearsal ENDPOINT=<emulator> STACK=...`, in process; returns the printed key."""
    with contextlib.redirect_stdout(capture):
        code = api_keys.main(
            ["--stack", STACK, "--region", REGION, "--endpoint", endpoint, "create", "--tenant", "rehearsal"]
        )
    lines = capture.getvalue().splitlines()
    for line in lines[:-1]:
        say(f"api-key: {line}")
    if code != 0:
        raise RuntimeError(f"make api-key failed ({code})")
    return lines[-1]


def usage_key(session: Any, endpoint: str) -> str:
    """The tenant's API Gateway key, which the emulator wants in x-api-key (a gap)."""
    apigateway = session.client("apigateway", endpoint_url=endpoint)
    keys = apigateway.get_api_keys(nameQuery=f"{STACK}-tenant-rehearsal", includeValues=True)["items"]
    value: str = keys[0]["value"]
    return value


def call(url: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the emulator on loopback
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def run_one_execution(base: str, headers: dict[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    status, accepted = call(f"{base}/api/execute", {**headers, "Content-Type": "application/json"}, PLAN)
    if status != 202:
        raise RuntimeError(f"POST /api/execute answered {status}: {accepted}")
    say(f"accepted {accepted['id']} ({status})")
    answer: dict[str, Any] = {}
    while time.monotonic() - started < EXECUTION_TIMEOUT_SECONDS:
        code, answer = call(f"{base}/api/execute/{accepted['id']}/status", headers)
        if code != 200:
            raise RuntimeError(f"GET status answered {code}: {answer}")
        if answer["status"] in {"completed", "failed", "cancelled"}:
            say(
                f"{answer['status']} after {time.monotonic() - started:.1f} s: {answer['completedJobs']} jobs completed"
            )
            return answer
        time.sleep(1)
    raise RuntimeError(f"not ended after {EXECUTION_TIMEOUT_SECONDS} s: {answer.get('status')}")


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    server = ministack.start(services=SERVICES, timeout=60)
    say(f"ministack on {server.endpoint} (log {server.log_path})")
    try:
        yield server.endpoint
    except BaseException:
        say("ministack's last lines:\n" + server.log_tail(40))
        raise
    finally:
        server.stop()


def rehearse() -> int:
    if not (BUILD / "template.yaml").exists():
        print("rehearse: no .aws-sam/build: run make build first (make rehearse does)", file=sys.stderr)
        return 2
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)  # every client below names the emulator itself
    session = boto3.session.Session(region_name=REGION)
    with emulator() as endpoint:
        cloudformation = session.client("cloudformation", endpoint_url=endpoint)
        try:
            outputs = deploy(session, endpoint)
            key = make_key(endpoint, io.StringIO())
            base = f"{endpoint}/restapis/{outputs['RestApiId']}/{STAGE}/_user_request_"
            headers = {"Authorization": f"Bearer {key}", "x-api-key": usage_key(session, endpoint)}
            answer = run_one_execution(base, headers)
        finally:
            with contextlib.suppress(Exception):
                cloudformation.delete_stack(StackName=STACK)
                say(f"teardown: stack {await_stack(cloudformation, 'DELETE_COMPLETE')}")
    return 0 if answer["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(rehearse())
