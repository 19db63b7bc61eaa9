"""The AWS side of `make run`: the backend (an embedded moto server, or ministack) on a loopback port,
and the event sources that feed the functions from it."""

from __future__ import annotations

import logging
import os
from typing import Any

from local import moto_transactions
from local.event_sources import EventSources
from local.moto_step_functions import enable_state_machine_execution
from local.stack import LocalDeployment


def start_moto(port: int) -> Any:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    enable_state_machine_execution()

    # MOTO_HOST=0.0.0.0 lets Lambda containers on Linux reach it (sam local; docs/local-development.md).
    server = ThreadedMotoServer(ip_address=os.environ.get("MOTO_HOST") or "127.0.0.1", port=port, verbose=False)
    server.start()
    moto_transactions.enable()  # transactions that do not copy whole tables (see that module)
    return server


class BackendWithEventSources:
    """The backend server and the event sources that feed the functions from it; stop() stops both."""

    def __init__(self, backend: Any, stack: LocalDeployment, endpoint_url: str) -> None:
        # moto's state machine interpreter calls SQS and DynamoDB on localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = endpoint_url.rsplit(":", 1)[1]
        self.backend = backend
        self.sources = EventSources(stack, endpoint_url)
        self.sources.start()

    def stop(self) -> None:
        self.sources.stop()
        self.backend.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


BACKENDS = ("moto", "ministack")


def start_backend(backend: str, port: int) -> Any:
    """The AWS endpoint (DynamoDB, KMS) on 127.0.0.1:port; the result has stop()."""
    if backend == "moto":
        return start_moto(port)
    if backend == "ministack":
        from local import ministack

        return ministack.start(port)
    raise ValueError(f"unknown backend {backend!r}: one of {', '.join(BACKENDS)}")
