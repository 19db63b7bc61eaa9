"""One provider API call, with the rules of issue 22 point 5 in one place: a rejected key fails at once ("replicate
rejected the API key"), invalid input fails with the provider's own message scrubbed of anything
credential-like, 429 waits for Retry-After (bounded) and tries again, 5xx and timeouts are tried again a
few times and then left to Step Functions' retry (retryable), never a stack trace or a key in the text.

A create (a prediction, a speech) costs credit, so it is sent again only when the provider said or showed that it
started nothing: the connection was never made, a 429 said to wait, a 503 (Service Unavailable: the request was not
processed, RFC 9110 15.6.4), or, on fal, any 5xx ("5xx not billed", OPERATIONS.md 5.2). Replicate and ElevenLabs
document nothing about their other 5xx: a 500, 502 or 504 (an edge proxy's gateway timeout) may come after the
provider's own server (behind the proxy) started the work, so like a read timeout or a reset connection it leaves
the outcome unknown and fails in words, not retried, rather than run (and bill) twice. No provider documents a way
to find such a prediction again (OPERATIONS.md lists no search of predictions by our callback ref)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3

from execution_api.engine.executors import JobFailed

MAX_ERROR_CHARS = 500
SERVICE_UNAVAILABLE = 503  # the server did not process the request (RFC 9110 15.6.4): a create may be sent again
# Providers that document every 5xx as nothing started: fal, "5xx not billed" (OPERATIONS.md 5.2).
_EVERY_5XX_STARTS_NOTHING = frozenset({"fal"})
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a prediction's JSON (Whisper's word list); media bytes come via engine.fetch
# Tokens the providers issue (Replicate r8_..., ElevenLabs sk_..., fal id:secret), auth headers, long hex/base64.
_CREDENTIAL_LIKE = re.compile(
    r"(?i)\b(?:bearer|key|token|xi-api-key)\s*[:=]?\s*\S+|\br8_[A-Za-z0-9]+|\bsk_[A-Za-z0-9]+"
    r"|[A-Za-z0-9-]{8,}:[A-Fa-f0-9]{16,}|\b[A-Za-z0-9+/_-]{32,}={0,2}"
)


def scrub(text: str, *secrets: str) -> str:
    """A provider's message fit for a job's error: the keys in play and credential-like words removed, short."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _CREDENTIAL_LIKE.sub("[redacted]", text)
    return " ".join(text.split())[:MAX_ERROR_CHARS]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


NOT_SENT: Reply = Reply(0, {}, b"")  # the connection was never made: the provider has not seen the request


def provider_message(reply: Reply) -> str:
    """The human part of an error answer: detail/message/error of the documented shapes, else the text."""
    body = reply.json()
    if isinstance(body, dict):
        for name in ("detail", "message", "error", "title"):
            value = body.get(name)
            if isinstance(value, dict):  # ElevenLabs: {"detail": {"status": ..., "message": ...}}
                value = value.get("message") or value.get("status")
            if isinstance(value, list) and value and isinstance(value[0], dict):  # fal/pydantic 422s
                value = "; ".join(str(item.get("msg", item)) for item in value[:5])
            if value:
                return str(value)
    return reply.body[:MAX_ERROR_CHARS].decode("utf-8", "replace")


@dataclass
class Transport:
    """Calls one provider's API with its key. `sleep` and the pool are injectable for tests."""

    provider: str
    key: str
    timeout_seconds: float = 30.0
    attempts: int = 3  # per call, for 5xx (on a create only those that started nothing) and timeouts (not on a create)
    max_retry_after_seconds: float = 60.0  # a longer wait is handed to Step Functions' retry instead
    sleep: Callable[[float], None] = time.sleep
    heartbeat: Callable[[], None] = lambda: None
    pool: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(retries=False))

    def call(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *, create: bool = False
    ) -> Reply:
        """The provider's 2xx answer, or JobFailed in words saying whether trying again can help. `create`:
        the call starts paid work, and is not sent again after an answer that never came (a read timeout) or a
        5xx that may have come after the work started (see the module's docstring)."""
        waited = 0.0
        for attempt in range(1, self.attempts + 1):
            reply = self._send(method, url, headers, body)
            if reply is NOT_SENT:
                reply = None  # never reached the provider: safe to try again, a create too
            elif create and reply is None:
                raise self._unconfirmed("did not answer in time")
            if reply is not None and reply.status < 300:
                return reply
            if reply is not None and reply.status == 429:
                wait = _retry_after(reply.headers.get("retry-after"))
                if waited + wait > self.max_retry_after_seconds:
                    raise JobFailed(f"{self.provider} is rate limiting this key; try again later", retryable=True)
                waited += wait
                self._pause(wait)
                continue
            if reply is not None and reply.status < 500:
                raise self._refusal(reply)
            if reply is not None and create and not self._started_nothing(reply.status):
                raise self._unconfirmed(f"answered HTTP {reply.status}")
            if attempt < self.attempts:
                self._pause(2.0 ** (attempt - 1))
        what = "did not answer in time" if reply is None else f"failed with HTTP {reply.status}"
        raise JobFailed(f"{self.provider} {what}", retryable=True)

    def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Reply | None:
        """The answer; NOT_SENT when no connection was made; None when the request may have arrived."""
        try:
            response = self.pool.request(
                method,
                url,
                body=body,
                headers=dict(headers),
                timeout=urllib3.Timeout(connect=10, read=self.timeout_seconds),
                redirect=False,
                preload_content=False,
            )
            try:
                data = response.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
            finally:
                response.release_conn()
        except urllib3.exceptions.ConnectTimeoutError:  # also NewConnectionError: refused, unresolved
            return NOT_SENT
        except (urllib3.exceptions.HTTPError, OSError):
            return None  # read timeouts, resets: the provider may have the request
        if len(data) > MAX_RESPONSE_BYTES:
            raise JobFailed(f"{self.provider} answered with more than {MAX_RESPONSE_BYTES} bytes")
        return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, data)

    def _started_nothing(self, status: int) -> bool:
        """Whether a create answered with this 5xx surely started no paid work, so it may be sent again."""
        return status == SERVICE_UNAVAILABLE or self.provider in _EVERY_5XX_STARTS_NOTHING

    def _unconfirmed(self, what: str) -> JobFailed:
        return JobFailed(
            f"{self.provider} {what} when asked to start the work; it was not asked again, since it may have "
            f"started it anyway (check the {self.provider} dashboard before running the job again)"
        )

    def _refusal(self, reply: Reply) -> JobFailed:
        if reply.status in (401, 403):
            return JobFailed(f"{self.provider} rejected the API key")
        message = scrub(provider_message(reply), self.key)
        if reply.status == 404:
            return JobFailed(f"{self.provider} does not know this model or prediction: {message}")
        return JobFailed(f"{self.provider} refused the input: {message}")

    def _pause(self, seconds: float) -> None:
        """Wait in short slices with the job's heartbeat between them (a long Retry-After is not a dead worker)."""
        while seconds > 0:
            step = min(seconds, 5.0)
            self.sleep(step)
            seconds -= step
            self.heartbeat()


def _retry_after(value: str | None) -> float:
    """Retry-After in seconds (RFC 9110: seconds or an HTTP date); 5 s when absent or unreadable."""
    if value is None:
        return 5.0
    if value.strip().isdigit():
        return float(value.strip())
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return 5.0
