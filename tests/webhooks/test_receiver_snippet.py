"""docs/webhooks.md: the receiver's verification snippet runs and accepts our deliveries."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from execution_api.webhooks.signing import delivery_headers
from local.template import ROOT

DOC = (ROOT / "docs" / "webhooks.md").read_text()
BODY = b'{"executionId":"V1StGXR8_Z5jdHi6B-myT","status":"failed","error":"boom","failedAt":"2026-11-26T07:00:00.000Z"}'


def snippet(containing: str) -> dict[str, Any]:
    [code] = [block for block in re.findall(r"```python\n(.*?)```", DOC, re.S) if containing in block]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@pytest.mark.parametrize("secret", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a plain shared secret"])
def test_the_documented_verification_accepts_a_delivery(secret: str) -> None:
    verify_delivery = snippet("def verify_delivery")["verify_delivery"]
    headers = {"Content-Type": "application/json", **delivery_headers("msg_x", int(time.time()), BODY, secret)}
    assert verify_delivery(BODY, headers, secret)["status"] == "failed"
    with pytest.raises(WebhookVerificationError):
        verify_delivery(BODY.replace(b"boom", b"fine"), headers, secret)
    with pytest.raises(WebhookVerificationError):
        verify_delivery(BODY, headers, "another secret")


def test_the_documented_receiver_is_valid_python() -> None:
    [code] = [block for block in re.findall(r"```python\n(.*?)```", DOC, re.S) if "class Receiver" in block]
    compile(code, "docs/webhooks.md", "exec")
