"""`make run`'s event sources in a process of their own. Lambda runs the engine's functions (starter,
engine, workers, webhooks, poller, sweeper) in containers apart from the API's; so does `make run`, so that
a backlog of engine work never takes the API's GIL. The child polls the same backend over HTTP, as the
event sources always do; it inherits the functions' environment and reads the deployment's names (queue
URLs, stream ARNs, the key's id) from its stdin.

It ends on the first SIGTERM or Ctrl-C to make run's process group (their default action: invocations in
flight are cut off, as on Lambda's shutdown), and when its stdin closes: the server is gone, even by
SIGKILL. Its logs go to the server's stdout and stderr. When it ends on its own (a crash), the server ends
too, with a message (local/server.py): an API accepting work that no engine runs would be worse than none.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from local.event_sources import EventSources
from local.stack import LocalDeployment
from local.template import ROOT, Template

# On AWS the API never shares a CPU with the engine; on a laptop it does, so the engine takes the CPU the API
# leaves: a POST waits for no backlog, and the engine still runs what was accepted, as fast once the POSTs
# stop (docs/local-development.md has the figures).
NICENESS = 10


class EventProcess:
    """The child process, from the server's side: start(), stop(), and returncode once it has ended."""

    def __init__(self, stack: LocalDeployment) -> None:
        self.stack = stack
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        wiring = {"names": self.stack.names, "attributes": [[*key, v] for key, v in self.stack.attributes.items()]}
        self.process = subprocess.Popen(  # this interpreter, a fixed module
            [sys.executable, "-m", "local.event_process"], stdin=subprocess.PIPE, cwd=ROOT
        )
        os.setpriority(os.PRIO_PROCESS, self.process.pid, NICENESS)
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(wiring).encode() + b"\n")
        self.process.stdin.flush()  # kept open: its end is the child's sign that the server is gone

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # nothing to save: what it held in flight comes back from the queues
            self.process.wait(5)


def main() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)  # the kernel ends it, whichever thread is busy
    wiring = json.loads(sys.stdin.buffer.readline())
    attributes = {(name, attribute): value for name, attribute, value in wiring["attributes"]}
    EventSources(LocalDeployment(Template(), wiring["names"], attributes), os.environ["AWS_ENDPOINT_URL"]).start()
    sys.stdin.buffer.read()  # returns when the server is gone
    os._exit(0)  # the pollers and deliveries are daemon threads, cut off


if __name__ == "__main__":
    main()
