"""fal's queue (OPERATIONS.md 5.2): submit to `/{model}[/{subpath}]` with `Authorization: Key`, an optional
`fal_webhook` to our callback route (signed with fal's published ED25519 keys, execution_api.providers
.callbacks verifies it), status and result under the model's root without the subpath."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from execution_api.engine.executors import JobFailed
from execution_api.providers.prediction import Prediction, ProviderOutput
from execution_api.providers.transport import Transport, provider_message, scrub

DEFAULT_BASE_URL = "https://queue.fal.run"


@dataclass
class FalClient:
    transport: Transport
    base_url: str = DEFAULT_BASE_URL
    name: str = "fal"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.transport.key}", "Content-Type": "application/json"}

    def submit(self, model: str, provider_input: Mapping[str, Any], callback_url: str | None) -> Prediction:
        query = f"?{urlencode({'fal_webhook': callback_url})}" if callback_url else ""
        url = f"{self.base_url}/{quote(model, safe='/')}{query}"
        payload = json.dumps(dict(provider_input)).encode()
        body = self.transport.call("POST", url, self._headers(), payload, create=True).json()
        if not isinstance(body, dict) or not isinstance(body.get("request_id"), str):
            raise JobFailed("fal answered without a request id", retryable=True)
        # Status and result live under the model's root (owner/name), never the subpath ("Queue" docs); the
        # URLs are built from our base URL, not taken from the answer, so the key only goes where we send it.
        root = "/".join(model.split("/")[:2])
        return Prediction(body["request_id"], "running", handle={"id": body["request_id"], "model": root})

    def _request_url(self, handle: Mapping[str, str], suffix: str = "") -> str:
        return f"{self.base_url}/{quote(handle['model'], safe='/')}/requests/{quote(handle['id'], safe='')}{suffix}"

    def read(self, handle: Mapping[str, str]) -> Prediction:
        status = self.transport.call("GET", self._request_url(handle, "/status"), self._headers()).json()
        if not isinstance(status, dict) or status.get("status") != "COMPLETED":
            return Prediction(handle["id"], "running", handle=handle)
        reply = self.transport.call("GET", self._request_url(handle), self._headers())
        return self._result(handle, "OK", reply.json(), None)

    def cancel(self, handle: Mapping[str, str]) -> None:
        self.transport.call("PUT", self._request_url(handle, "/cancel"), self._headers())

    def _result(self, handle: Mapping[str, str], status: str, payload: Any, error: Any) -> Prediction:
        if status != "OK" or not isinstance(payload, dict):
            if isinstance(payload, dict) and payload.get("detail"):
                from execution_api.providers.transport import Reply

                error = provider_message(Reply(422, {}, json.dumps(payload).encode()))
            text = scrub(str(error or "fal reported an error without a message"), self.transport.key)
            return Prediction(handle["id"], "failed", error=text, handle=handle)
        return Prediction(handle["id"], "succeeded", outputs=_outputs(payload), handle=handle)


def _outputs(payload: Mapping[str, Any]) -> tuple[ProviderOutput, ...]:
    """Fabric `{video: {url, content_type}}`, images `{images: [{url, content_type, width, height}]}`, audio
    `{audio: {...}}`."""
    files: list[Any] = []
    for name in ("video", "audio", "image"):
        if isinstance(payload.get(name), dict):
            files.append(payload[name])
    if isinstance(payload.get("images"), list):
        files.extend(payload["images"])
    return tuple(
        ProviderOutput(f["url"], f.get("content_type"), _pixels(f.get("width")), _pixels(f.get("height")))
        for f in files
        if isinstance(f, dict) and isinstance(f.get("url"), str)
    )


def _pixels(value: Any) -> int | None:
    """A side's length as fal states it, when it is one (a positive whole number of pixels)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 100_000 else None
