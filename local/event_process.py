"""`make run`'s event sources in a process of their own. Lambda runs the engine's functions (starter,
engine, workers, webhooks, poller, sweeper) in containers apart from the API's; so does `make run`, so that
a backlog of engine work never takes the API's GIL. The child polls the same backend over HTTP, as the
event sources always do.

It is forked at make run's start, before the backend or any thread exists, so it shares the interpreter
and the libraries loaded so far (boto3, botocore, pydantic, Powertools) with the server instead of loading
its own copy (docs/local-development.md has the figures). It then waits on a pipe for the deployment's names (queue
URLs, stream ARNs, the key's id) and the functions' environment, which exist once the backend is up.

It ends on the first SIGTERM or Ctrl-C to make run's process group (their default action: invocations in
flight are cut off, as on Lambda's shutdown), and when the pipe closes: the server is gone, even by
SIGKILL. Its logs go to the server's stdout and stderr. When it ends on its own (a crash), the server ends
too, with a message (local/server.py): an API accepting work that no engine runs would be worse than none.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import signal
import sys
import threading
import traceback
from typing import IO, NoReturn

from local.stack import LocalDeployment
from local.template import Template

# On AWS the API never shares a CPU with the engine; on a laptop it does, so the engine takes the CPU the API
# leaves: a POST waits for no backlog, and the engine still runs what was accepted, as fast once the POSTs
# stop (docs/local-development.md has the figures).
NICENESS = 10
# Libraries both processes' functions load (about 13 MB): loaded once before the fork, shared after it.
SHARED_LIBRARIES = (
    "pydantic",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.parser",
)


class EventProcess:
    """The child process, from the server's side: fork() at the start, start(stack) once the backend is
    provisioned, stop(), and returncode once it has ended."""

    def __init__(self, pid: int, pipe: IO[bytes]) -> None:
        self.pid = pid
        self._pipe = pipe  # kept open: its end is the child's sign that the server is gone
        self._returncode: int | None = None

    @classmethod
    def fork(cls, template: Template) -> EventProcess:
        # A fork copies only the calling thread: with another thread running, the child could inherit a lock
        # that thread held. So it happens first, while make run has one thread.
        if _threads() != 1:
            raise RuntimeError("the event sources' process is forked before any thread starts")
        for library in SHARED_LIBRARIES:
            importlib.import_module(library)
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        gc.collect()
        gc.freeze()  # the server's collector leaves what the two share alone, so its pages stay shared
        pid = os.fork()
        if pid == 0:
            _serve(read_end, write_end, template)
        os.close(read_end)
        child = cls(pid, os.fdopen(write_end, "wb"))
        os.setpriority(os.PRIO_PROCESS, pid, NICENESS)
        return child

    def start(self, stack: LocalDeployment) -> None:
        wiring = {
            "names": stack.names,
            "attributes": [[*key, v] for key, v in stack.attributes.items()],
            "environment": dict(os.environ),  # the functions' settings, set once the backend was provisioned
        }
        with contextlib.suppress(BrokenPipeError):  # it has died: make run's loop reports it (returncode)
            self._pipe.write(json.dumps(wiring).encode() + b"\n")
            self._pipe.flush()

    @property
    def returncode(self) -> int | None:
        if self._returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already (SIGCHLD ignored by whoever started make run)
                pid, status = self.pid, 0
            if pid:
                self._returncode = os.waitstatus_to_exitcode(status)
        return self._returncode

    def stop(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # nothing to save: what it held in flight comes back from the queues
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _threads() -> int:
    """This process's threads, native ones too (Python's count misses them), where the system tells."""
    try:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Threads:")).split()[1])
    except OSError:
        return threading.active_count()


def _serve(read_end: int, write_end: int, template: Template) -> NoReturn:
    """The child: never returns into the server's code, whatever happens."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)  # first: the kernel ends it, whichever thread is busy
    code = 1
    try:
        os.close(write_end)
        pipe = os.fdopen(read_end, "rb")
        line = pipe.readline()
        if line:  # nothing: the server ended while starting
            from local.event_sources import EventSources

            wiring = json.loads(line)
            os.environ.clear()  # the server's, exactly: it has removed what must not reach the functions
            os.environ.update(wiring["environment"])
            attributes = {(name, attribute): value for name, attribute, value in wiring["attributes"]}
            stack = LocalDeployment(template, wiring["names"], attributes)  # the server's, parsed before the fork
            EventSources(stack, os.environ["AWS_ENDPOINT_URL"]).start()
            pipe.read()  # returns when the server is gone
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # the pollers and deliveries are daemon threads, cut off
