"""`make run` runs the engine: an SDK-shaped pipeline submitted over HTTP goes pending -> processing ->
completed, as the SDK's execute() polls it, and cancel works over the wire."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.support import Server, running_server

pytestmark = pytest.mark.http

PIPELINE = {
    "executionPlan": {
        "jobs": [
            {
                "id": "job2",
                "type": "generate",
                "params": {"prompt": "Scene 1", "simulate": {"ms": 300}},
                "output": "$job2",
            },
            {
                "id": "job3",
                "type": "generate",
                "params": {"prompt": "Scene 2", "simulate": {"ms": 300}},
                "output": "$job3",
            },
            {
                "id": "job1",
                "type": "merge",
                "params": {
                    "items": [{"url": "_videoJobDependency:job2"}, {"url": "_videoJobDependency:job3"}],
                    "simulate": {"ms": 300},
                },
                "dependsOn": ["job2", "job3"],
                "output": "$job1",
            },
        ]
    }
}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as (server, _):
        yield server


def poll(server: Server, execution_id: str, timeout_s: float = 60) -> list[dict[str, object]]:
    """What the SDK does: GET the status until it is completed or failed (the only ends it knows); every
    answer seen, in order."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = server.request("GET", f"/api/execute/{execution_id}/status").body
        seen.append(status)
        if status["status"] in ("completed", "failed"):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"still {seen[-1]['status']} after {timeout_s} s")


def test_an_sdk_pipeline_goes_pending_processing_completed(server: Server) -> None:
    accepted = server.post(json.dumps(PIPELINE).encode())
    assert accepted.status == 202
    assert accepted.body["status"] == "pending"

    seen = poll(server, accepted.body["id"])

    statuses = [s["status"] for s in seen]
    assert "processing" in statuses
    assert statuses == sorted(statuses, key=["pending", "processing", "completed"].index)
    final = seen[-1]
    assert final["status"] == "completed"
    assert final["result"] == {
        "url": f"https://outputs.execution-api.invalid/{accepted.body['id']}/job1.mp4",
        "status": "completed",
    }
    assert final["progress"] == 100
    assert all(job["status"] == "completed" for job in final["jobs"])


def test_cancel_over_http(server: Server) -> None:
    slow = {
        "executionPlan": {"jobs": [{"id": "a", "operation": "generateVideo", "params": {"simulate": {"ms": 5000}}}]}
    }
    execution_id = server.post(json.dumps(slow).encode()).body["id"]

    cancelled = server.request("POST", f"/api/execute/{execution_id}/cancel")
    assert cancelled.status == 202
    # The SDK's poll settles: a cancel reads as failed, says so in words, and is told apart by `cancelled`
    assert (cancelled.body["status"], cancelled.body["cancelled"]) == ("failed", True)
    final = poll(server, execution_id)[-1]
    assert (final["status"], final["cancelled"], final["error"]) == ("failed", True, "Execution cancelled")
    again = server.request("POST", f"/api/execute/{execution_id}/cancel")
    assert again.status == 409
    assert again.headers["Content-Type"] == "application/problem+json"
    assert server.request("GET", f"/api/execute/{execution_id}/cancel").status == 405
