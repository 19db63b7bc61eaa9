"""Webhook delivery for real under `make run`: an SDK pipeline with a webhook runs, the receiver on
127.0.0.1 gets the signed POST, a first 503 is retried within seconds under the same webhook-id."""

from __future__ import annotations

import json
import os
import time

import pytest
from standardwebhooks.webhooks import Webhook

from local.stack import forget_cached_configuration
from tests.support import running_server
from tests.webhooks.receiver import ScriptedAnswer, receiver

pytestmark = pytest.mark.http

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_finished_execution_is_announced_signed_and_retried_after_a_503() -> None:
    with receiver(ScriptedAnswer(status=503), ScriptedAnswer(status=200)) as hook, running_server() as (server, _):
        os.environ["ALLOW_INSECURE_WEBHOOKS"] = "true"  # as `ALLOW_INSECURE_WEBHOOKS=true make run` sets it
        # A first retry after about a second, not the template's 5 (the 5 s wait in SQS is
        # tests/webhooks/test_delivery.py's), as `WEBHOOK_RETRY_SCHEDULE=1 make run` would.
        os.environ["WEBHOOK_RETRY_SCHEDULE"] = "1"
        forget_cached_configuration()
        body = {
            "executionPlan": {"jobs": [{"id": "a", "type": "generate", "params": {"simulate": {"ms": 10}}}]},
            "options": {"webhook": hook.url, "webhookSecret": SECRET},
        }
        reply = server.request("POST", "/api/execute", json.dumps(body).encode(), {"Content-Type": "application/json"})
        assert reply.status == 202, reply.body
        deadline = time.monotonic() + 90
        while len(hook.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        first, second = hook.received[:2]
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"msg_{reply.body['id']}"
        headers = {k.lower(): v for k, v in second.headers.items()}
        payload = Webhook(SECRET).verify(second.body, headers)
        assert payload["status"] == "completed"
        assert payload["result"]["url"].startswith("https://outputs.execution-api.invalid/")
        # The sender records an attempt once its answer is in: read until the second one is recorded.
        status = server.request("GET", reply.headers["Location"])
        while status.body["webhook"]["deliveredAt"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
            status = server.request("GET", reply.headers["Location"])
        assert status.body["webhook"]["attempts"] == 2
        assert status.body["webhook"]["lastStatus"] == 200
