"""`make run` as a user runs it (`make run`, its default backend, in a process group of its own): quiet
when idle, functions with their own concurrency (jobs of minutes never stop other executions), the event
sources in a process of their own that make run does not outlive, and gone after the first SIGTERM to its
group, whatever it is running. About the default, so not TEST_BACKEND's:
the server and the ministack it starts are measured and stopped together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from local.event_process import NICENESS
from tests.support import free_port

pytestmark = pytest.mark.http

ROOT = Path(__file__).resolve().parents[2]
READY = "Ctrl-C stops."
# Bounds on CPU seconds, not on time taken; generous, as the test machine is shared and noisy.
IDLE_WINDOW_S = 10.0
IDLE_CPU_S = 0.5  # 5% of one core, for every process of it (issue 25)
SLOW_MS = 600_000  # ten minutes: still running when the test ends
# More than the one shared pool of 16 deliveries the event sources once had, fewer than the work queue's cap
# (WorkerMaxConcurrency, 20): on Lambda too, 20 jobs of ten minutes would hold every worker the queue may run.
SLOW_EXECUTIONS = 17


@dataclass
class MakeRun:
    process: subprocess.Popen[bytes]
    url: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback only
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.load(response)

    def submit(self, *jobs: dict[str, Any]) -> str:
        execution_id: str = self.call("POST", "/api/execute", {"executionPlan": {"jobs": list(jobs)}})["id"]
        return execution_id

    def status(self, execution_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"/api/execute/{execution_id}/status")
        return answer

    def processes(self) -> list[psutil.Process]:
        """make, the server, its event sources' process and ministack: the process and all it started."""
        process = psutil.Process(self.process.pid)
        return [process, *process.children(recursive=True)]

    def event_process(self) -> psutil.Process:
        """The server's fork: the process with the server's command line whose parent is the server."""
        servers = [p for p in self.processes() if p.cmdline()[1:] == ["-m", "local.server"]]
        (found,) = [p for p in servers if p.parent() in servers]
        return found

    def cpu_seconds(self) -> float:
        """CPU time of the process and every process it started."""
        return sum(sum(p.cpu_times()[:2]) for p in self.processes())


def start_make_run(*arguments: str) -> MakeRun:
    port, backend_port = free_port(), free_port()
    environment = dict(os.environ)
    for name in ("AWS_ENDPOINT_URL", "LOCAL_API_KEY", "BACKEND", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        environment.pop(name, None)
    # A shell's profile must reach neither process's functions (local/stack.py's use_local_credentials): a
    # profile unknown to botocore would fail every call of the engine's while the API kept accepting work.
    environment["AWS_PROFILE"] = "no-such-profile"
    # The Makefile's default backend, installed on first use as for a user.
    process = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
        ["make", "--no-print-directory", "run", f"PORT={port}", f"MOTO_PORT={backend_port}", *arguments],  # noqa: S607
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a process group of its own, as a terminal gives `make run`
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.decode().strip() == READY:
            break
    else:
        raise AssertionError(f"make run exited with {process.wait()} before it was ready")
    # Its further output must not fill the pipe and block it.
    os.set_blocking(process.stdout.fileno(), False)
    return MakeRun(process, f"http://127.0.0.1:{port}")


def stop(make_run: MakeRun) -> None:
    if make_run.process.poll() is None:
        os.killpg(make_run.process.pid, signal.SIGKILL)
        make_run.process.wait()


@pytest.fixture(scope="module")
def make_run() -> Iterator[MakeRun]:
    running = start_make_run()
    try:
        yield running
    finally:
        stop(running)


def wait_for(condition: Any, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


def test_idle_make_run_uses_almost_no_cpu(make_run: MakeRun) -> None:
    names = [p.name() for p in make_run.processes()]
    assert "ministack" in names  # every process is measured: ministack's and the event sources' too
    assert make_run.event_process() in make_run.processes()
    assert make_run.event_process().nice() == NICENESS  # the API's process comes first for the CPU
    time.sleep(2)  # the first stream reads and the first long polls are under way
    before = make_run.cpu_seconds()
    time.sleep(IDLE_WINDOW_S)
    assert make_run.cpu_seconds() - before < IDLE_CPU_S


def test_jobs_of_minutes_never_stop_other_executions(make_run: MakeRun) -> None:
    # Given more executions with a job of ten minutes than the old shared delivery pool had room for
    slow = [
        make_run.submit({"id": "slow", "operation": "generateVideo", "params": {"simulate": {"ms": SLOW_MS}}})
        for _ in range(SLOW_EXECUTIONS)
    ]
    assert wait_for(lambda: all(make_run.status(i)["status"] == "processing" for i in slow))

    # When another execution arrives, its jobs run and it completes while they all still run
    fast = make_run.submit(
        {"id": "a", "operation": "generateVideo", "params": {"simulate": {"ms": 0}}},
        {"id": "b", "operation": "merge", "dependsOn": ["a"], "params": {"simulate": {"ms": 0}}},
    )
    assert wait_for(lambda: make_run.status(fast)["status"] == "completed"), make_run.status(fast)
    assert {make_run.status(i)["status"] for i in slow} == {"processing"}


def test_the_first_sigterm_to_its_group_ends_every_process() -> None:
    # Given make run with a job of ten minutes running
    running = start_make_run()
    try:
        execution_id = running.submit(
            {"id": "slow", "operation": "generateVideo", "params": {"simulate": {"ms": SLOW_MS}}}
        )
        assert wait_for(lambda: running.status(execution_id)["jobs"][0]["status"] == "processing")
        processes = running.processes()
        assert {p.name() for p in processes} >= {"make", "python", "ministack"}
        assert running.event_process() in processes

        # When its process group gets one SIGTERM
        os.killpg(running.process.pid, signal.SIGTERM)

        # Then every process of it ends (make run gives itself 3 s; issue 25 asks for 5)
        _gone, alive = psutil.wait_procs(processes, timeout=5)
        assert alive == []
    finally:
        stop(running)


def test_when_its_event_sources_process_dies_make_run_ends_and_says_why() -> None:
    # Given make run, serving
    running = start_make_run()
    try:
        processes = running.processes()
        # When its event sources' process dies (a crash: nothing else stops it)
        running.event_process().kill()
        # Then make run ends with an error and a message, its backend with it, rather than accept work no engine runs
        gone, alive = psutil.wait_procs(processes, timeout=5)
        assert alive == []
        assert next(p.returncode for p in gone if p.pid == running.process.pid) != 0  # psutil has reaped make
        assert running.process.stdout is not None
        assert b"its event sources' process ended (-9); stopping" in running.process.stdout.read()
    finally:
        stop(running)


def test_on_moto_too_the_engine_runs_from_the_event_sources_process_and_logs_to_make_runs_output() -> None:
    # Given make run on the embedded moto
    running = start_make_run("BACKEND=moto")
    try:
        assert running.event_process().parent().cmdline()[1:] == ["-m", "local.server"]
        # When an execution of two jobs is submitted, then the engine runs it to the end
        execution_id = running.submit(
            {"id": "a", "operation": "generateVideo", "params": {"simulate": {"ms": 0}}},
            {"id": "b", "operation": "merge", "dependsOn": ["a"], "params": {"simulate": {"ms": 0}}},
        )
        assert wait_for(lambda: running.status(execution_id)["status"] == "completed"), running.status(execution_id)
        # and the worker's logs, from the event sources' process, are in make run's output
        assert running.process.stdout is not None
        assert b'"function_name":"execution-api-local-WorkerFunction"' in (running.process.stdout.read() or b"")
    finally:
        stop(running)


def test_when_the_server_is_killed_its_event_sources_and_backend_end_too() -> None:
    # Given make run, serving
    running = start_make_run()
    try:
        processes = running.processes()
        server = running.event_process().parent()
        # When its server is killed, with no chance to stop anything
        server.kill()
        # Then nothing of it is left: the event sources see their pipe close, ministack gets the kernel's SIGKILL
        _gone, alive = psutil.wait_procs(processes, timeout=5)
        assert alive == []
    finally:
        stop(running)
