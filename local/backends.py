"""The AWS side of `make run`: the backend (an embedded moto server, or ministack) on a loopback port,
and the event sources that feed the functions from it."""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.request
from typing import Any

import boto3

from local.event_process import EventProcess
from local.event_sources import EventSources
from local.stack import LocalDeployment
from local.template import REGION


def start_moto(port: int) -> EmbeddedMoto:
    # Imported here: they import moto, which the default backend (ministack) does without (~20 MB).
    from local import moto_transactions
    from local.moto_step_functions import enable_state_machine_execution

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    enable_state_machine_execution()
    moto = EmbeddedMoto(port)
    moto_transactions.enable()  # transactions that do not copy whole tables (see that module)
    return moto


class EmbeddedMoto:
    """moto's server on a loopback port. moto keeps its state (queues, tables, runs) in this process, not in
    the server: a later server in the same process (the tests start several) would find this one's queues
    with its long polls still waiting on them (taking the later server's messages for their visibility
    timeout) and its runs still going. So stop() ends every run and forgets all of it (moto's reset API)."""

    def __init__(self, port: int) -> None:
        from moto.server import ThreadedMotoServer

        # MOTO_HOST=0.0.0.0 lets Lambda containers on Linux reach it (sam local; docs/local-development.md).
        host = os.environ.get("MOTO_HOST") or "127.0.0.1"
        self.server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        with contextlib.ExitStack() as then:  # each step runs whatever the one before raised
            then.callback(self.server.stop)
            then.callback(self.reset)
            stop_runs(self.endpoint)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310 - loopback
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback only


def stop_runs(endpoint: str) -> None:
    """Stop every state machine run that is still going: stopped, its interpreter starts no further state."""
    fake = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}  # moto's: whatever the environment holds
    sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=endpoint, **fake)
    for machine in sfn.list_state_machines()["stateMachines"]:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
        )
        for run in (run for page in pages for run in page["executions"]):
            sfn.stop_execution(executionArn=run["executionArn"])


class BackendWithEventSources:
    """The backend server and the event sources that feed the functions from it; stop() stops both. The
    sources run in this process (the tests drive and pause them), or in `event_process`, a child, as make run
    runs them (local/event_process.py)."""

    def __init__(
        self, backend: Any, stack: LocalDeployment, endpoint_url: str, event_process: EventProcess | None = None
    ) -> None:
        # moto's state machine interpreter calls SQS and DynamoDB on localhost:$MOTO_PORT (put back by stop()).
        self._moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = endpoint_url.rsplit(":", 1)[1]
        self.backend = backend
        if event_process is None:
            sources = EventSources(stack, endpoint_url)
            sources.start()
            self.sources: EventSources | EventProcess = sources
        else:
            event_process.start(stack)
            self.sources = event_process

    def stop(self) -> None:
        self.sources.stop()
        self.backend.stop()
        if self._moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._moto_port

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
