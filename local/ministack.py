"""ministack: a second, independent AWS (DynamoDB, KMS, SQS, Step Functions) for local work, run as a subprocess.

It lives in its own virtual environment (.venv-ministack, `make` creates it from
requirements-ministack.txt) because it pins an older botocore than the application's. It is started
bound to loopback with only the services the product uses on, no Docker, no persistence and no extra listeners,
in its own process group so that stopping it stops everything it started.

Known differences from moto (and AWS): its KMS decrypts tampered ciphertext and ignores a wrong key
id, and it deletes items whose TTL has passed within about a minute (AWS takes up to days); its Step
Functions does not enforce a callback task's TimeoutSecondsPath nor a run's TimeoutSeconds, and its
history leaves out Map iterations. It ignores a Map's MaxConcurrencyPath too (a thread per item at once:
500 for the largest plan), so the state machine is created on it with that value as MaxConcurrency
(`with_static_map_concurrency`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from local.template import ACCOUNT_ID, REGION, ROOT

EXECUTABLE = ROOT / ".venv-ministack" / "bin" / "ministack"
HOST = "127.0.0.1"

# Only what the product uses, on loopback, and nothing that reaches outside the process.
ENVIRONMENT = {
    "BIND_HOST": HOST,
    # sqs and stepfunctions: the engine (docs/engine.md); s3: the outputs bucket (docs/api.md)
    "SERVICES": "dynamodb,dynamodbstreams,kms,sqs,stepfunctions,s3",
    "DOCKER_HOST": "unix:///nonexistent",
    "IOT_MTLS_ENABLED": "0",
    "SFTP_ENABLED": "0",
    "PERSIST_STATE": "0",
    "S3_PERSIST": "0",
    "LOCALSTACK_PERSISTENCE": "0",
    # The account and region that local/template.py resolves ARNs with (moto's defaults); ministack's
    # own default account is 000000000000, where the key ARN given to the functions would not exist.
    "MINISTACK_ACCOUNT_ID": ACCOUNT_ID,
    "MINISTACK_REGION": REGION,
}


# Runs in ministack's venv, then becomes ministack: on Linux it first asks the kernel to SIGKILL it when the
# process that started it dies, even by SIGKILL, so no ministack outlives its owner. SIGKILL, not SIGTERM:
# ministack keeps nothing on disk, and on SIGTERM it waits for its state machine runs (a task token awaited
# for minutes) before it exits. (The kernel sends it when the starting *thread* ends: call start() from a
# thread that outlives it.)
_LAUNCHER = """
import ctypes, os, signal, sys
if sys.platform == "linux":
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[2]):
        sys.exit("the process that started ministack is gone")
os.execv(sys.argv[1], sys.argv[1:2])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class Ministack:
    """A running ministack; `stop()` ends it (same interface as moto's ThreadedMotoServer)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes], log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self._log = log

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def reset(self) -> None:
        reset(self.endpoint)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 1.5, timeout: float = 10) -> None:
        """SIGTERM to its process group, SIGKILL if it lingers `grace` seconds (on SIGTERM it waits for its
        running state machine runs, which may await a task token for minutes; make run has 3 s to stop).
        Idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        self._log.close()
        atexit.unregister(self.stop)


def start(
    port: int | None = None, *, executable: Path = EXECUTABLE, timeout: float = 30, services: str | None = None
) -> Ministack:
    """Start ministack on 127.0.0.1:`port` (a free one if None) and wait until it answers.

    `services` replaces ENVIRONMENT's SERVICES (the deploy rehearsal needs CloudFormation, Lambda, API Gateway...).
    Its output goes to a log file in the temporary directory (`log_path`)."""
    if not executable.exists():
        raise RuntimeError(f"{executable} is missing: `make .venv-ministack/.installed` creates it")
    port = port or free_port()
    if not _is_free(port):  # else the readiness check below would find whatever answers there
        raise RuntimeError(f"port {port} on {HOST} is in use (a ministack or moto left running?)")
    log_path = Path(tempfile.gettempdir()) / f"execution-api-ministack-{port}.log"
    log = log_path.open("wb")
    environment = {**os.environ, **ENVIRONMENT, "GATEWAY_PORT": str(port)}
    # MOTO_HOST=0.0.0.0 lets Lambda containers on Linux reach it (sam local; docs/local-development.md).
    environment["BIND_HOST"] = os.environ.get("MOTO_HOST") or HOST
    if services is not None:
        environment["SERVICES"] = services
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        environment.pop(name, None)
    process = subprocess.Popen(  # noqa: S603 - our own venv's interpreter and entry point, fixed arguments
        [str(executable.parent / "python"), "-c", _LAUNCHER, str(executable), str(os.getpid())],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop() signals the group
    )
    server = Ministack(process, port, log, log_path)
    atexit.register(server.stop)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"ministack exited with {process.returncode} on port {port}:\n{server.log_tail()}")
        if _answers(server.endpoint):
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"ministack did not answer on port {port} within {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.05)


def _is_free(port: int) -> bool:
    """No listener on the port (connections left in TIME_WAIT do not count, as for the server's own bind)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_ministack/health", timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def serves(endpoint: str | None) -> bool:
    """A ministack answers at `endpoint` (moto answers its health path with a 404)."""
    return endpoint is not None and _answers(endpoint)


def with_static_map_concurrency(definition: str, max_concurrency: int) -> str:
    """The definition with every Map's MaxConcurrencyPath replaced by MaxConcurrency (the value the run's
    input would carry, MAX_PARALLEL_JOBS), which ministack does enforce."""

    def replaced(node: Any) -> Any:
        if isinstance(node, list):
            return [replaced(item) for item in node]
        if not isinstance(node, dict):
            return node
        found = {key: replaced(value) for key, value in node.items() if key != "MaxConcurrencyPath"}
        return {**found, "MaxConcurrency": max_concurrency} if "MaxConcurrencyPath" in node else found

    return json.dumps(replaced(json.loads(definition)))


def reset(endpoint: str) -> None:
    """Drop every table, item, key and alias (POST /_ministack/reset)."""
    request = urllib.request.Request(f"{endpoint}/_ministack/reset", data=b"", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        if response.status != 200:
            raise RuntimeError(f"ministack reset answered {response.status}")
