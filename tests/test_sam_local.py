"""`sam local invoke` / `start-api` against make run's backend (local/sam_env.py, local/sam_local.py).

Docker is not available where these run, so they check what SAM is given and what the functions do
with it: the env-vars file covers every function and only overrides variables the template declares
(SAM drops the others silently); the deployed value of each leaves boto3 on the real AWS endpoints;
the names in it are the ones make run creates; the functions, run in a clean process with the
environment SAM would give their container, work against a running make run; and `make sam-invoke`
without Docker says so plainly."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest

from local import ministack, sam_env, sam_local
from local.ministack import free_port
from local.stack import LocalDeployment, forget_cached_configuration
from local.template import REGION, ROOT, Template, pseudo_parameters, resolve
from tests.support import event_file

TEMPLATE = Template()
CONDITIONS = TEMPLATE.document.get("Conditions", {})
ENV_FILE: dict[str, dict[str, str]] = json.loads(sam_env.ENV_VARS_PATH.read_text())
FUNCTION_IDS = sorted(f.logical_id for f in TEMPLATE.functions())
REAL_ENDPOINTS = {"dynamodb": f"https://dynamodb.{REGION}.amazonaws.com", "kms": f"https://kms.{REGION}.amazonaws.com"}
LOCAL_ENDPOINT = "http://host.docker.internal:5005"


def declared(logical_id: str) -> dict[str, Any]:
    """The variables the template declares for a function, read from the document: Globals, then its own."""
    shared = TEMPLATE.document["Globals"]["Function"]["Environment"]["Variables"]
    own = TEMPLATE.resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def lambda_reserved_names() -> set[str]:
    """The names Lambda refuses in a function's environment (cfn-lint's copy of the Lambda documentation's list)."""
    path = resources.files("cfnlint") / "data/schemas/extensions/aws_lambda_function/environment_variable_keys.json"
    names: list[str] = json.loads(path.read_text())["propertyNames"]["not"]["enum"]
    return set(names)


# ---- the env-vars file ----


def test_every_function_of_the_template_has_an_entry() -> None:
    assert sorted(ENV_FILE) == FUNCTION_IDS


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_every_variable_in_it_is_declared_for_that_function(logical_id: str) -> None:
    undeclared = set(ENV_FILE[logical_id]) - set(declared(logical_id))
    assert not undeclared, f"SAM would silently ignore {sorted(undeclared)} for {logical_id}"


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_every_resource_name_the_template_gives_is_overridden(logical_id: str) -> None:
    """SAM turns !Ref of a table into its logical id but !GetAtt of the key into a Lambda ARN: every name of
    a resource comes from the file, so the container gets make run's names, not SAM's guesses."""
    names_a_resource = {
        name
        for name, value in declared(logical_id).items()
        if isinstance(value, dict) and ("Fn::GetAtt" in value or value.get("Ref") in TEMPLATE.resources)
    }
    assert names_a_resource
    assert names_a_resource <= set(ENV_FILE[logical_id])


def test_it_points_every_function_at_make_runs_backend_as_a_container_sees_it() -> None:
    for logical_id in FUNCTION_IDS:
        assert ENV_FILE[logical_id]["AWS_ENDPOINT_URL"] == LOCAL_ENDPOINT
    # Inside a container 127.0.0.1 is the container itself.
    assert "127.0.0.1" not in sam_env.ENV_VARS_PATH.read_text()
    assert "localhost" not in sam_env.ENV_VARS_PATH.read_text()


def test_nothing_in_it_or_in_the_template_is_a_name_lambda_reserves() -> None:
    """Which is why credentials and the region are not in the file: Lambda reserves their names, so no
    template declares them, so SAM would not apply them; SAM sets them from its own session."""
    reserved = lambda_reserved_names()
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"} <= reserved
    assert "AWS_ENDPOINT_URL" not in reserved
    for logical_id in FUNCTION_IDS:
        assert not (set(ENV_FILE[logical_id]) | set(declared(logical_id))) & reserved


def test_the_committed_file_is_what_the_generator_writes() -> None:
    assert sam_env.ENV_VARS_PATH.read_text() == sam_env.render(sam_env.env_vars())
    assert sam_env.main(["--check"]) == 0


def test_check_fails_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "sam-env.json"
    stale.write_text("{}\n")
    assert sam_env.main(["--check", "--output", str(stale)]) == 1
    assert "make sam-env" in capsys.readouterr().err


def test_another_moto_port_changes_only_the_endpoint() -> None:
    other = sam_env.env_vars(moto_port=5999)
    for logical_id in FUNCTION_IDS:
        assert other[logical_id] == {**ENV_FILE[logical_id], "AWS_ENDPOINT_URL": "http://host.docker.internal:5999"}


# ---- the deployed value of each variable leaves boto3 on the real endpoints ----


def deployed_environment(logical_id: str) -> dict[str, str]:
    """The function's environment as CloudFormation would set it (resources get deployed-looking names)."""
    names = {**TEMPLATE.parameter_defaults(), **pseudo_parameters()}
    attributes: dict[tuple[str, str], str] = {}
    for resource in TEMPLATE.resources:
        names[resource] = f"execution-api-dev-{resource}-1A2B3C"
        attributes[(resource, "Arn")] = f"arn:aws:service:{REGION}:123456789012:thing/{resource}"
    return {
        name: resolve(value, names, attributes, conditions=CONDITIONS) for name, value in declared(logical_id).items()
    }


@pytest.fixture
def lambda_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """An environment like a Lambda container's: no AWS setting of the developer's, no config files."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a session made now, from this environment
    forget_cached_configuration()
    yield
    forget_cached_configuration()


def endpoints() -> dict[str, str]:
    """Where the application's own clients (execution_api.core.aws_clients) send their requests."""
    from execution_api.core import aws_clients

    forget_cached_configuration()
    return {
        "dynamodb": aws_clients.dynamodb_client().meta.endpoint_url,
        "kms": aws_clients.kms_client().meta.endpoint_url,
    }


@pytest.mark.usefixtures("lambda_process")
@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_the_deployed_environment_keeps_boto3_on_the_real_endpoints(
    logical_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = deployed_environment(logical_id)
    assert environment["AWS_ENDPOINT_URL"] == ""  # what AWS gives the function: empty, not absent
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert endpoints() == REAL_ENDPOINTS


@pytest.mark.usefixtures("lambda_process")
def test_an_absent_endpoint_variable_means_the_real_endpoints_too() -> None:
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert endpoints() == REAL_ENDPOINTS


@pytest.mark.usefixtures("lambda_process")
@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_the_env_files_values_point_boto3_at_the_local_backend(
    logical_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**deployed_environment(logical_id), **ENV_FILE[logical_id]}.items():
        monkeypatch.setenv(name, value)
    assert endpoints() == {"dynamodb": LOCAL_ENDPOINT, "kms": LOCAL_ENDPOINT}


def test_every_endpoint_variable_it_overrides_is_empty_in_aws() -> None:
    for logical_id in FUNCTION_IDS:
        for name in ENV_FILE[logical_id]:
            if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_"):
                assert declared(logical_id)[name] == "", f"{name} of {logical_id} must be empty when deployed"


# ---- the names are the ones make run creates ----


def test_its_names_are_the_ones_make_run_creates(aws: LocalDeployment) -> None:
    """provision() is what make run runs: the file's tables exist, and its key alias is make run's key."""
    kms = boto3.client("kms", region_name=REGION)
    for function in aws.functions:
        local = aws.environment(function)
        for name, value in ENV_FILE[function.logical_id].items():
            if name == "AWS_ENDPOINT_URL":
                continue
            if value.startswith("alias/"):
                assert kms.describe_key(KeyId=value)["KeyMetadata"]["Arn"] == local[name]
            elif value.startswith("arn:aws:states:"):
                assert value == local[name]
            elif value.startswith("https://sqs."):
                assert value.rsplit("/", 2)[1:] == local[name].rsplit("/", 2)[1:]  # account and queue name
            else:
                assert value == local[name]
                if name.endswith("_TABLE_NAME"):
                    assert value in aws.table_names()
                elif name.endswith("_BUCKET_NAME"):
                    boto3.client("s3", region_name=REGION).head_bucket(Bucket=value)  # make run made it


# ---- the functions, in a process with the environment SAM gives their container, against make run ----


def sam_environment_of(logical_id: str, endpoint: str) -> dict[str, str]:
    """What SAM (samcli/local/lambdafn/env_vars.py) puts into the container: its AWS_* variables (credentials
    from its session, the region from samconfig.toml), then the template's variables, each overridden by the
    env-vars file. Resources SAM cannot name get a value that fails loudly if the file misses one. The
    container's host.docker.internal is this host's 127.0.0.1 here."""
    names = {**TEMPLATE.parameter_defaults(), **pseudo_parameters()}
    attributes: dict[tuple[str, str], str] = {}
    for resource in TEMPLATE.resources:
        names[resource] = attributes[(resource, "Arn")] = "unresolved-by-sam"
    port = int(endpoint.rsplit(":", 1)[1])
    overrides = sam_env.env_vars(moto_port=port)[logical_id]
    overrides["AWS_ENDPOINT_URL"] = endpoint
    function = next(f for f in TEMPLATE.functions() if f.logical_id == logical_id)
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(str(d) for d in [*TEMPLATE.layer_dirs(), function.code_dir]),
        "AWS_SAM_LOCAL": "true",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **{
            name: resolve(value, names, attributes, conditions=CONDITIONS)
            for name, value in declared(logical_id).items()
        },
        **overrides,
    }


RUN_HANDLER = """
import json, sys
from types import SimpleNamespace
module, name = sys.argv[1].rsplit(".", 1)
handler = getattr(__import__(module), name)
context = SimpleNamespace(function_name="f", function_version="$LATEST", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f", aws_request_id="sam-local-test",
    log_group_name="g", log_stream_name="s", get_remaining_time_in_millis=lambda: 29000)
try:
    result = handler(json.load(sys.stdin), context)
except Exception as error:
    result = {"errorType": type(error).__name__, "errorMessage": str(error)}
print("RESULT " + json.dumps(result))
"""


def invoke_in_a_clean_process(logical_id: str, event: dict[str, Any], endpoint: str) -> dict[str, Any]:
    function = next(f for f in TEMPLATE.functions() if f.logical_id == logical_id)
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", RUN_HANDLER, function.handler],
        input=json.dumps(event),
        env=sam_environment_of(logical_id, endpoint),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


@pytest.mark.http
def test_every_function_works_against_make_run_with_the_env_files_values() -> None:
    from tests.support import running_server

    key = "sk_sam_local_test"
    with running_server(api_key=key) as (server, _):
        # The authorizer finds the key make run stored for tenant "local".
        token = {**event_file("authorizer-token.json"), "authorizationToken": f"Bearer {key}"}
        policy = invoke_in_a_clean_process("AuthorizerFunction", token, server.backend_url)
        assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow", policy
        assert policy["context"]["tenantId"] == "local"

        # The submit function writes the execution (and KMS-encrypts the webhook secret) where make run reads.
        accepted = invoke_in_a_clean_process(
            "SubmitExecutionFunction", event_file("submit-canonical.json"), server.backend_url
        )
        assert accepted["statusCode"] == 202, accepted
        execution_id = json.loads(accepted["body"])["id"]
        status = server.request(
            "GET", f"/api/execute/{execution_id}/status", headers={"Authorization": f"Bearer {key}"}
        )
        assert status.status == 200
        assert [job["id"] for job in status.body["jobs"]] == ["job1", "job2"]

        # The status function reads what make run wrote.
        posted = server.post(b'{"executionPlan":{"jobs":[],"rootJobIds":[]}}', Authorization=f"Bearer {key}")
        assert posted.status == 202
        status_event = event_file("get-status.json")
        status_event["path"] = f"/api/execute/{posted.body['id']}/status"
        status_event["pathParameters"] = {"id": posted.body["id"]}
        read = invoke_in_a_clean_process("ExecutionStatusFunction", status_event, server.backend_url)
        assert read["statusCode"] == 200, read
        assert json.loads(read["body"])["executionId"] == posted.body["id"]


SAM_VENV_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SAM_RESOLUTION = """
import json, sys
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
stacks, _ = SamLocalStackProvider.get_stacks("template.yaml")
provider = SamFunctionProvider(stacks)
runner = LocalLambdaRunner(local_runtime=None, function_provider=provider, cwd=".", real_path=".",
    aws_region=sys.argv[2], env_vars_values=json.load(open(sys.argv[1])))
print(json.dumps({f.name: runner._make_env_vars(f).resolve() for f in provider.get_all()}))
"""


@pytest.mark.skipif(not SAM_VENV_PYTHON.exists(), reason="the SAM CLI is not installed (.venv-sam)")
def test_the_sam_cli_applies_every_value_of_the_file() -> None:
    """SAM CLI's own code (no Docker needed for this part) resolves each function's container environment."""
    done = subprocess.run(  # noqa: S603 - the SAM CLI's interpreter, a fixed script
        [str(SAM_VENV_PYTHON), "-c", SAM_RESOLUTION, str(sam_env.ENV_VARS_PATH), REGION],
        cwd=ROOT,
        env={**sam_local.sam_environment(dict(os.environ)), "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    resolved = json.loads(done.stdout.splitlines()[-1])
    assert sorted(resolved) == FUNCTION_IDS
    for logical_id, environment in resolved.items():
        assert ENV_FILE[logical_id].items() <= environment.items()
        assert environment["AWS_REGION"] == REGION
        assert environment["AWS_ACCESS_KEY_ID"] == "testing"
        assert "AWS_SESSION_TOKEN" not in environment


# ---- samconfig.toml: the plain sam local commands get the same settings ----


@pytest.mark.parametrize("command", ["local_invoke", "local_start_api", "local_start_lambda"])
def test_plain_sam_local_commands_use_the_env_file(command: str) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    parameters = config["default"][command]["parameters"]
    assert parameters["env_vars"] == str(sam_env.ENV_VARS_PATH.relative_to(ROOT))
    assert parameters["region"] == REGION
    assert parameters["add_host"] == [sam_local.ADD_HOST]
    assert parameters.get("port", 3001) != 3000  # make run's port


# ---- make sam-invoke / make sam-api ----


def make(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    # -o: never (re)install the application's venv from a test.
    return subprocess.run(  # noqa: S603 - make, fixed arguments
        ["make", "--no-print-directory", "-o", ".venv/.installed", *arguments],  # noqa: S607
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def docker_down(tmp_path: Path) -> Path:
    """A docker command whose daemon does not answer."""
    return script(tmp_path / "docker", "import sys\nsys.exit('Cannot connect to the Docker daemon')\n")


@pytest.fixture
def docker_up(tmp_path: Path) -> Path:
    return script(tmp_path / "docker", "print('Ubuntu 24.04 LTS')\n")


@pytest.fixture
def fake_sam(tmp_path: Path) -> Path:
    """A sam command that records its arguments, a few variables and the env-vars file it was given."""
    return script(
        tmp_path / "sam",
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "env_file = args[args.index('--env-vars') + 1] if '--env-vars' in args else None\n"
        "record = {'args': args, 'env': {k: os.environ.get(k) for k in\n"
        "    ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE')},\n"
        "    'env_file': json.load(open(env_file)) if env_file else None}\n"
        f"open({str(tmp_path / 'calls.jsonl')!r}, 'a').write(json.dumps(record) + '\\n')\n",
    )


@pytest.fixture
def backend() -> Iterator[int]:
    """Something listening where make run's backend would (MOTO_PORT)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_make_sam_invoke_without_docker_says_so_and_points_to_make_invoke(tmp_path: Path, fake_sam: Path) -> None:
    done = make(
        "sam-invoke", "EVENT=events/submit-smoke.json", f"SAM={fake_sam}", DOCKER=str(tmp_path / "no-such-docker")
    )
    assert done.returncode != 0
    assert "make sam-invoke needs Docker" in done.stderr
    assert "no `" in done.stderr
    assert "no-such-docker` command" in done.stderr
    assert "    make invoke EVENT=events/submit-smoke.json\n" in done.stderr
    assert calls(tmp_path) == []  # nothing built, nothing run


def test_a_docker_daemon_that_does_not_answer_is_no_docker(docker_down: Path, fake_sam: Path, tmp_path: Path) -> None:
    done = make(
        "sam-invoke",
        "EVENT=events/authorizer-token.json",
        "FUNCTION=AuthorizerFunction",
        f"SAM={fake_sam}",
        DOCKER=str(docker_down),
    )
    assert done.returncode != 0
    assert "needs Docker" in done.stderr
    assert "daemon is not running" in done.stderr
    assert "make invoke EVENT=events/authorizer-token.json FUNCTION=AuthorizerFunction" in done.stderr
    assert calls(tmp_path) == []


def test_make_sam_api_without_docker_points_to_make_run(docker_down: Path, fake_sam: Path, tmp_path: Path) -> None:
    done = make("sam-api", f"SAM={fake_sam}", DOCKER=str(docker_down))
    assert done.returncode != 0
    assert "make sam-api needs Docker" in done.stderr
    assert "    make run\n" in done.stderr
    assert calls(tmp_path) == []


def test_with_docker_but_no_make_run_it_says_to_start_make_run(docker_up: Path, fake_sam: Path, tmp_path: Path) -> None:
    done = make(
        "sam-invoke",
        "EVENT=events/submit-smoke.json",
        f"SAM={fake_sam}",
        f"MOTO_PORT={free_port()}",
        DOCKER=str(docker_up),
    )
    assert done.returncode != 0
    assert "start it first" in done.stderr
    assert "make run MOTO_HOST=0.0.0.0" in done.stderr
    assert calls(tmp_path) == []


def test_with_docker_it_builds_then_invokes_with_the_env_file(
    docker_up: Path, fake_sam: Path, backend: int, tmp_path: Path
) -> None:
    done = make(
        "sam-invoke",
        "EVENT=events/get-status.json",
        f"SAM={fake_sam}",
        f"MOTO_PORT={backend}",
        DOCKER=str(docker_up),
        AWS_SESSION_TOKEN="a-real-looking-session-token",
        AWS_PROFILE="someones-profile",
    )
    assert done.returncode == 0, done.stderr
    build, invoke = calls(tmp_path)
    assert build["args"][0] == "build"
    assert invoke["args"][:5] == ["local", "invoke", "ExecutionStatusFunction", "--event", "events/get-status.json"]
    assert invoke["args"][-4:] == ["--region", REGION, "--add-host", "host.docker.internal:host-gateway"]
    # Another MOTO_PORT: the same file with that port.
    assert invoke["env_file"] == sam_env.env_vars(moto_port=backend)
    # SAM copies its own credentials into the container: dummies, never the shell's.
    for call in (build, invoke):
        assert call["env"] == {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
        }
    assert "+ " in done.stderr  # the command is printed, to paste next time


def test_with_docker_sam_api_starts_the_api_beside_make_run(
    docker_up: Path, fake_sam: Path, backend: int, tmp_path: Path
) -> None:
    done = make("sam-api", f"SAM={fake_sam}", f"MOTO_PORT={backend}", DOCKER=str(docker_up))
    assert done.returncode == 0, done.stderr
    _, api = calls(tmp_path)
    assert api["args"][:4] == ["local", "start-api", "--port", "3001"]
    assert "--env-vars" in api["args"]


def linux_docker(path: Path, operating_system: str, gateway: str) -> Path:
    """A docker command for a daemon on `operating_system` whose default bridge has `gateway`."""
    return script(
        path,
        f"import sys\nprint({gateway!r} if sys.argv[1:3] == ['network', 'inspect'] else {operating_system!r})\n",
    )


@pytest.mark.skipif(sys.platform != "linux", reason="the bridge gateway matters on Docker Engine for Linux")
def test_on_linux_engine_a_backend_on_loopback_only_is_refused(fake_sam: Path, backend: int, tmp_path: Path) -> None:
    """host-gateway is the bridge's gateway, not loopback: make run's default 127.0.0.1 is unreachable there.
    127.0.0.2 stands in for the gateway (the backend fixture listens on 127.0.0.1 only)."""
    docker = linux_docker(tmp_path / "docker", "Ubuntu 24.04 LTS", "127.0.0.2")
    done = make(
        "sam-invoke", "EVENT=events/submit-smoke.json", f"SAM={fake_sam}", f"MOTO_PORT={backend}", DOCKER=str(docker)
    )
    assert done.returncode != 0
    assert "127.0.0.2" in done.stderr
    assert "make run MOTO_HOST=0.0.0.0" in done.stderr
    assert calls(tmp_path) == []


@pytest.mark.skipif(sys.platform != "linux", reason="the bridge gateway matters on Docker Engine for Linux")
@pytest.mark.parametrize("operating_system", ["Ubuntu 24.04 LTS", "Docker Desktop"])
def test_a_backend_on_every_interface_or_docker_desktop_passes(
    operating_system: str, fake_sam: Path, tmp_path: Path
) -> None:
    with socket.socket() as listener:
        listener.bind(("0.0.0.0" if operating_system != "Docker Desktop" else "127.0.0.1", 0))  # noqa: S104
        listener.listen()
        docker = linux_docker(tmp_path / "docker", operating_system, "127.0.0.2")
        port = listener.getsockname()[1]
        done = make(
            "sam-invoke", "EVENT=events/submit-smoke.json", f"SAM={fake_sam}", f"MOTO_PORT={port}", DOCKER=str(docker)
        )
    assert done.returncode == 0, done.stderr
    assert [call["args"][0] for call in calls(tmp_path)] == ["build", "local"]


def test_the_default_moto_port_uses_the_committed_file() -> None:
    assert sam_local.env_vars_file(sam_env.DEFAULT_MOTO_PORT) == sam_env.ENV_VARS_PATH
    command = sam_local.invoke_command(
        "sam", "SubmitExecutionFunction", "events/submit-smoke.json", sam_env.ENV_VARS_PATH
    )
    assert command[command.index("--env-vars") + 1] == "local/sam-env.json"


@pytest.mark.parametrize(
    ("name", "function"),
    [("submit-smoke.json", "SubmitExecutionFunction"), ("get-status.json", "ExecutionStatusFunction")],
)
def test_the_function_is_picked_by_the_events_route(name: str, function: str) -> None:
    assert sam_local.pick_function(event_file(name), None) == function


def test_an_event_without_a_route_needs_function() -> None:
    with pytest.raises(sam_local.Refusal, match="FUNCTION="):
        sam_local.pick_function(event_file("authorizer-token.json"), None)
    assert sam_local.pick_function(event_file("authorizer-token.json"), "AuthorizerFunction") == "AuthorizerFunction"


# ---- make run MOTO_HOST: where Linux containers can reach the backend ----


@pytest.mark.parametrize(("moto_host", "bound"), [(None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])  # noqa: S104
def test_make_runs_backend_listens_on_moto_host(
    moto_host: str | None, bound: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local.backends import start_moto

    if moto_host is None:
        monkeypatch.delenv("MOTO_HOST", raising=False)
    else:
        monkeypatch.setenv("MOTO_HOST", moto_host)
    server = start_moto(free_port())
    try:
        assert server.server.get_host_and_port()[0] == bound
    finally:
        server.stop()


@pytest.mark.skipif(
    not ministack.EXECUTABLE.exists(),
    reason="ministack is not installed: run through make pytest or make test, which install .venv-ministack first",
)
def test_make_runs_default_backend_listens_on_moto_host_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_HOST", "0.0.0.0")  # noqa: S104
    server = ministack.start()
    try:
        listening = {c.laddr.ip for c in psutil.Process(server.process.pid).net_connections() if c.status == "LISTEN"}
        assert listening == {"0.0.0.0"}  # noqa: S104
    finally:
        server.stop()
