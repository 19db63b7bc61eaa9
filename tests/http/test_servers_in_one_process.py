"""Two `make run` servers, one after the other, in one process (as the test modules start them): the second
starts as a fresh `make run` would. The first's event sources long-poll its queues for up to 20 s after
stop(), and moto keeps queues, tables and runs in the process, not in its server: without the reset on stop
those polls took the second server's messages (hidden for the queue's visibility timeout), and its
pipelines stayed `processing`."""

from __future__ import annotations

import json

import pytest

from tests.http.test_engine_over_http import PIPELINE, poll
from tests.support import running_server

pytestmark = pytest.mark.http


def test_a_second_server_completes_a_pipeline_and_sees_nothing_of_the_first() -> None:
    with running_server() as (first, _):
        earlier = first.post(json.dumps(PIPELINE).encode())
        assert earlier.status == 202
        # Stopped while the pipeline runs: its runs, messages and pollers are all still going.

    with running_server() as (second, _):
        accepted = second.post(json.dumps(PIPELINE).encode())
        assert accepted.status == 202

        seen = poll(second, accepted.body["id"])

        assert seen[-1]["status"] == "completed", seen[-1]
        forgotten = second.request("GET", f"/api/execute/{earlier.body['id']}/status")
        assert forgotten.status == 404, forgotten.body  # moto was reset; a ministack is a new process
