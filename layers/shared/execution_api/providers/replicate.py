"""Replicate (OPERATIONS.md 5.1): predictions on a model endpoint or a pinned version, `Authorization: Bearer`,
a `completed` webhook to our callback route, signed in the Standard Webhooks scheme (execution_api.providers
.callbacks verifies it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from execution_api.providers.prediction import Prediction, ProviderOutput, State, transcript_words
from execution_api.providers.transport import Transport, scrub

DEFAULT_BASE_URL = "https://api.replicate.com/v1"
_STATES: dict[str, State] = {
    "starting": "running",
    "processing": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "aborted": "failed",
    "canceled": "canceled",
}


@dataclass
class ReplicateClient:
    transport: Transport
    base_url: str = DEFAULT_BASE_URL
    name: str = "replicate"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.transport.key}", "Content-Type": "application/json"}

    def submit(self, model: str, provider_input: Mapping[str, Any], callback_url: str | None) -> Prediction:
        """A pinned version (64 hex characters) goes to /predictions; a model name to its own endpoint."""
        body: dict[str, Any] = {"input": dict(provider_input)}
        if callback_url:
            body |= {"webhook": callback_url, "webhook_events_filter": ["completed"]}
        if _is_version(model):
            url = f"{self.base_url}/predictions"
            body["version"] = model
        else:
            url = f"{self.base_url}/models/{quote(model, safe='/')}/predictions"
        reply = self.transport.call("POST", url, self._headers(), json.dumps(body).encode(), create=True)
        return self._prediction(reply.json())

    def read(self, handle: Mapping[str, str]) -> Prediction:
        url = f"{self.base_url}/predictions/{quote(handle['id'], safe='')}"
        return self._prediction(self.transport.call("GET", url, self._headers()).json())

    def cancel(self, handle: Mapping[str, str]) -> None:
        url = f"{self.base_url}/predictions/{quote(handle['id'], safe='')}/cancel"
        self.transport.call("POST", url, self._headers())

    def _prediction(self, body: Any) -> Prediction:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            from execution_api.engine.executors import JobFailed

            raise JobFailed("replicate answered without a prediction", retryable=True)
        state = _STATES.get(str(body.get("status")), "running")
        output = body.get("output")
        urls = (
            [output]
            if isinstance(output, str)
            else [u for u in output if isinstance(u, str)]
            if isinstance(output, list)
            else []
        )
        error = body.get("error")
        return Prediction(
            id=body["id"],
            state=state,
            outputs=tuple(ProviderOutput(u) for u in urls),
            words=transcript_words(output),
            error=scrub(str(error), self.transport.key) if error else None,
            handle={"id": body["id"]},
        )


def _is_version(model: str) -> bool:
    return len(model) == 64 and all(c in "0123456789abcdef" for c in model)
