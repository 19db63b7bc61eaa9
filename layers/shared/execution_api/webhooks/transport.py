"""One webhook POST through core.egress's checked connection: what the attempt came to, within a hard
timeout, reading at most MAX_RESPONSE_BYTES of the answer (docs/webhooks.md, "Safety at send time")."""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass

from execution_api.core.egress import CheckedTransport, Deadline, RefusedAddress, Resolver, resolve_host
from execution_api.webhooks.urls import webhook_url_problem

MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class PostResult:
    """What one attempt came to: an HTTP status, or no answer at all (`status` None) and why."""

    status: int | None
    error: str | None = None
    body_bytes_read: int = 0

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookTransport:
    def __init__(
        self,
        *,
        allow_insecure: bool,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        resolver: Resolver = resolve_host,
        tls_context: ssl.SSLContext | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._allow_insecure = allow_insecure
        self._timeout = timeout_seconds
        self._max_response_bytes = max_response_bytes
        self._egress = CheckedTransport(allow_insecure=allow_insecure, resolver=resolver, tls_context=tls_context)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        """POST `body` to `url`; never raises for what the receiver or the network does."""
        problem = webhook_url_problem(url, allow_insecure=self._allow_insecure)
        if problem is not None:  # in the webhook's words (the delivery's lastError); connect checks it again
            return PostResult(None, f"refused: {problem[1]}")
        deadline = Deadline(self._timeout)
        connection: http.client.HTTPConnection | None = None
        try:
            connection, host_header, path = self._egress.connect(url, deadline)
            connection.request("POST", path, body=body, headers={"Host": host_header, **headers})
            response = connection.getresponse()
            read = len(response.read(self._max_response_bytes))  # the rest of a long answer is never read
            if deadline.expired:  # the answer was cut off at the deadline: not an answer in time
                return PostResult(None, f"timeout: no complete answer within {self._timeout:g} s", read)
            return PostResult(response.status, None, read)
        except RefusedAddress as refused:
            return PostResult(None, f"refused: {refused}")
        except (OSError, http.client.HTTPException) as error:
            if deadline.expired or isinstance(error, TimeoutError):
                return PostResult(None, f"timeout: no complete answer within {self._timeout:g} s")
            return PostResult(None, f"no valid answer: {type(error).__name__}")
        finally:
            deadline.cancel()
            if connection is not None:
                connection.close()
            deadline.close_socket()
