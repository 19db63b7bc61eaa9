"""`make sam-invoke EVENT=events/<file>.json [FUNCTION=<logical id>]` and `make sam-api`: `sam local invoke`
and `sam local start-api`, which run the functions in the Lambda container image (Docker), against the
backend of a running `make run`.

It checks Docker and make run's backend before anything is installed or built, then runs `sam build` and
the sam command, printed first. docs/local-development.md says what runs where; local/sam_env.py, the file.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from local import sam_env
from local.template import REGION, ROOT, Template

ADD_HOST = f"{sam_env.CONTAINER_HOST}:host-gateway"
DEFAULT_SAM_PORT = 3001  # make run serves 3000
LAMBDA_PYTHON = "python3.13"  # the template's runtime; `sam build` without a container needs it on PATH
# Credentials of the shell that must not reach the containers (SAM copies its own session's into them).
DROPPED_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


class Refusal(Exception):
    """A plain explanation of why sam local cannot run here; printed without a traceback."""


def docker_command() -> str:
    return os.environ.get("DOCKER") or "docker"


def docker(*arguments: str) -> subprocess.CompletedProcess[str] | None:
    """The docker CLI's answer, or None when there is no docker command or it hangs."""
    executable = shutil.which(docker_command())
    if executable is None:
        return None
    try:
        return subprocess.run(  # noqa: S603 - the docker CLI, fixed arguments
            [executable, *arguments], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def docker_problem() -> str | None:
    """None when the Docker daemon answers, else why it does not, in words."""
    command = docker_command()
    if shutil.which(command) is None:
        return f"there is no `{command}` command on this machine"
    answer = docker("info", "--format", "{{.OperatingSystem}}")
    if answer is None or answer.returncode != 0:
        return f"`{command} info` failed: the Docker daemon is not running or not reachable"
    return None


def bridge_gateway() -> str | None:
    """On Docker Engine for Linux, the address host-gateway stands for (the default bridge's gateway);
    None on Docker Desktop, which forwards host.docker.internal to the host itself, or when unknown."""
    if platform.system() != "Linux":
        return None
    info = docker("info", "--format", "{{.OperatingSystem}}")
    if info is None or "Docker Desktop" in info.stdout:
        return None
    answer = docker("network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}")
    for word in answer.stdout.split() if answer is not None and answer.returncode == 0 else []:
        try:
            return str(ipaddress.IPv4Address(word))
        except ValueError:
            continue
    return None


def no_docker_message(target: str, reason: str, event: str | None, function: str | None) -> str:
    if target == "sam-invoke":
        instead = f"make invoke EVENT={event or 'events/<file>.json'}"
        instead += f" FUNCTION={function}" if function else ""
        what = "runs the same event through the same handler in this process, against moto"
    else:
        instead = "make run"
        what = "serves the same API on http://localhost:3000 from this process, against moto"
    return (
        f"make {target} needs Docker: `sam local` runs each function in the Lambda container image, and {reason}.\n"
        f"Without Docker, this {what}:\n    {instead}"
    )


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def backend_problem(moto_port: int) -> str | None:
    """None when make run's backend listens where the containers will look for it."""
    if not listening("127.0.0.1", moto_port):
        return (
            f"nothing listens on 127.0.0.1:{moto_port}, make run's backend (MOTO_PORT): start it first in another"
            " terminal, `make run` (on Linux `make run MOTO_HOST=0.0.0.0`, so that containers can reach it)"
        )
    gateway = bridge_gateway()
    if gateway is not None and not listening(gateway, moto_port):
        return (
            f"make run's backend listens on 127.0.0.1:{moto_port} only, and on Docker Engine for Linux the"
            f" containers reach the host at the bridge's gateway, {gateway}: restart it as"
            " `make run MOTO_HOST=0.0.0.0` (every interface; see docs/local-development.md)"
        )
    return None


def pick_function(event: dict[str, Any], logical_id: str | None, template: Template | None = None) -> str:
    """The function whose route matches the event (as `make invoke` picks it), or the one named."""
    template = template or Template()
    functions = {f.logical_id: f for f in template.functions()}
    if logical_id:
        if logical_id not in functions:
            raise Refusal(f"no function {logical_id} in template.yaml; one of {', '.join(sorted(functions))}")
        return logical_id
    for function in functions.values():
        if any(r.match(event.get("httpMethod", ""), event.get("path", "")) is not None for r in function.routes):
            return function.logical_id
    if "httpMethod" not in event:
        raise Refusal("the event is not an API Gateway request: name its function with FUNCTION=<logical id>")
    raise Refusal(f"no function in template.yaml routes {event['httpMethod']} {event.get('path')}: pass FUNCTION=")


def env_vars_file(moto_port: int) -> Path:
    """The committed file for the default port; for another MOTO_PORT, the same content in a temporary file."""
    if moto_port == sam_env.DEFAULT_MOTO_PORT:
        return sam_env.ENV_VARS_PATH
    handle, name = tempfile.mkstemp(prefix="sam-env-", suffix=".json")
    with os.fdopen(handle, "w") as out:
        out.write(sam_env.render(sam_env.env_vars(moto_port=moto_port)))
    return Path(name)


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def local_flags(env_file: Path) -> list[str]:
    """What makes the containers use make run's backend (samconfig.toml's [default.local_*] say the same)."""
    return ["--env-vars", relative(env_file), "--region", REGION, "--add-host", ADD_HOST]


def invoke_command(sam: str, function: str, event: str, env_file: Path) -> list[str]:
    return [sam, "local", "invoke", function, "--event", event, *local_flags(env_file)]


def start_api_command(sam: str, port: int, env_file: Path) -> list[str]:
    return [sam, "local", "start-api", "--port", str(port), *local_flags(env_file)]


def build_command(sam: str) -> list[str]:
    # Without python3.13 on PATH, sam builds in the Lambda build image instead (Docker is there).
    return [sam, "build"] if shutil.which(LAMBDA_PYTHON) else [sam, "build", "--use-container"]


def sam_environment(environ: dict[str, str]) -> dict[str, str]:
    """SAM's own environment: dummy credentials, which SAM copies into the containers (AWS_ACCESS_KEY_ID and
    the like are reserved by Lambda, so no env-vars file can set them). Nothing local holds a real key."""
    environment = {k: v for k, v in environ.items() if k not in DROPPED_VARIABLES and k != "AWS_ENDPOINT_URL"}
    environment.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    return environment


def preflight(target: str, moto_port: int, event: str | None = None, function: str | None = None) -> None:
    problem = docker_problem()
    if problem is not None:
        raise Refusal(no_docker_message(target, problem, event, function))
    problem = backend_problem(moto_port)
    if problem is not None:
        raise Refusal(f"make {target}: {problem}.")


def run(command: list[str]) -> int:
    print("+ " + shlex.join(command), file=sys.stderr, flush=True)
    return subprocess.run(command, cwd=ROOT, env=sam_environment(dict(os.environ)), check=False).returncode  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=["sam-invoke", "sam-api"])
    parser.add_argument("event", nargs="?", help="the event file (sam-invoke)")
    parser.add_argument("--function", default=os.environ.get("FUNCTION") or None)
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT") or sam_env.DEFAULT_MOTO_PORT))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAM_PORT") or DEFAULT_SAM_PORT))
    parser.add_argument("--preflight", action="store_true", help="only check Docker and make run's backend")
    args = parser.parse_args(argv)
    function = ""
    try:
        if args.target == "sam-invoke":
            if not args.event:
                raise Refusal("usage: make sam-invoke EVENT=events/<file>.json [FUNCTION=<logical id>]")
            if not Path(args.event).is_file():
                raise Refusal(f"no event file {args.event}")
            function = pick_function(json.loads(Path(args.event).read_text()), args.function)
        preflight(args.target, args.moto_port, args.event, args.function)
    except Refusal as refusal:
        print(refusal, file=sys.stderr)
        return 1
    if args.preflight:
        return 0
    status = run(build_command(args.sam))
    if status != 0:
        return status
    env_file = env_vars_file(args.moto_port)
    try:
        if args.target == "sam-invoke":
            return run(invoke_command(args.sam, function, args.event, env_file))
        return run(start_api_command(args.sam, args.port, env_file))
    finally:
        if env_file != sam_env.ENV_VARS_PATH:
            env_file.unlink()


if __name__ == "__main__":
    sys.exit(main())
