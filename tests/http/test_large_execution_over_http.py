"""The largest plan the API takes (500 jobs), over real HTTP against `make run`: accepted, and its status
reads back whole. moto takes seconds to answer a 500-job Query, which the functions' 2 s DynamoDB read
timeout turned into a 503 until make run gave its clients a longer one (CLIENT_READ_TIMEOUT_SECONDS)."""

from __future__ import annotations

import json

import pytest

from execution_api.core.limits import MAX_JOBS
from tests.support import chain, running_server

pytestmark = pytest.mark.http


def test_a_500_job_execution_is_accepted_and_its_status_reads_back_whole() -> None:
    with running_server() as (server, _):
        # Given a plan as large as the API allows
        body = json.dumps(
            {
                "executionPlan": {
                    "jobs": [
                        {**job, "params": {"prompt": f"scene {job['id']}"}}
                        for job in chain(MAX_JOBS)["executionPlan"]["jobs"]
                    ]
                }
            }
        ).encode()
        # When it is submitted and its status read
        accepted = server.request("POST", "/api/execute", body, {"Content-Type": "application/json"})
        assert accepted.status == 202, accepted.body
        status = server.request("GET", f"/api/execute/{accepted.body['id']}/status")
        # Then every job is there, in plan order, with the execution's ETag
        assert status.status == 200, status.body
        assert [job["id"] for job in status.body["jobs"]] == [f"j{i}" for i in range(MAX_JOBS)]
        assert status.body["status"] in {"pending", "processing"}
        assert status.headers.get("ETag", "").startswith('"')
