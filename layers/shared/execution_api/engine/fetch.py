"""Fetching a media job's inputs (the `Fetch` of execution_api.media): a client's URL through core.egress, under
the rules a webhook meets (https only, resolved once, connected to a checked address, refused ranges, every
redirect checked the same way), or an output of this service read from the OutputsBucket. Size and time are
bounded; a partial file never stays behind. docs/api.md, "Media inputs", lists what a client sees for each bad input.

`InputRefused` is a bad input (the job fails, never retried); `InputUnavailable` a transient failure (the
job is retried). A full disk (ENOSPC) is `DiskFull`, a refusal: the same job on the same worker cannot fit.
The media executor turns them into MediaError and JobFailed(retryable=True)."""

from __future__ import annotations

import contextlib
import http.client
import os
import pathlib
import re
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from execution_api.core.disk_space import disk_full_message, is_disk_full
from execution_api.core.egress import CheckedTransport, Deadline, RefusedAddress, resolve_host
from execution_api.storage.outputs import parse_reference, tenant_key

MAX_REDIRECTS = 5
USER_AGENT = "ExecutionAPI-Media/1.0"  # some hosts (Wikimedia's among them) answer 403 to a request without one
CHUNK = 1024 * 1024
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_NOT_MEDIA = ("text/html", "application/xhtml+xml")


class InputRefused(Exception):
    """An input that cannot succeed: the message is a sentence for the client (no addresses, no paths)."""


class InputUnavailable(Exception):
    """An input that may succeed on a later attempt (the server's 5xx, a timeout, the bucket busy)."""


class DiskFull(InputRefused):
    """The worker's disk filled while an input was written: retrying on the same storage cannot succeed."""


@dataclass(frozen=True)
class InputLimits:
    max_bytes: int = 2 * 1024**3
    timeout_seconds: float = 300.0
    allow_insecure: bool = False  # http and loopback hosts, for local fakes (ALLOW_INSECURE_INPUTS)


class InputFetcher:
    """fetch(url, directory) -> path of the downloaded file inside `directory`."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        tenant_id: str,
        limits: InputLimits,
        resolver: Callable[[str, int], Any] = resolve_host,
        heartbeat: Callable[[], None] = lambda: None,
        time_left: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._s3, self._bucket, self._tenant_id, self._limits = s3, bucket, tenant_id, limits
        # seconds left of the job's own time (None: unbounded): a download never outlasts it, so a job of
        # several slow inputs fails in words instead of running into the worker's timeout
        self._time_left = time_left
        self._heartbeat = heartbeat  # offered between chunks: a long download must not look like a dead worker
        self._transport = CheckedTransport(allow_insecure=limits.allow_insecure, resolver=resolver)

    def __call__(self, url: str, directory: pathlib.Path) -> pathlib.Path:
        shown = _shown(url)
        try:
            with _new_file(directory, url) as (path, file):
                if parse_reference(url) is not None:
                    self._from_bucket(url, shown, file)
                else:
                    self._over_http(url, shown, file)
                if file.tell() == 0:
                    raise InputRefused(f"the input {shown} is empty (zero bytes)")
                file.flush()  # a full disk may show only here
                return path
        except OSError as error:  # the partial file is already removed
            if is_disk_full(error):
                raise DiskFull(disk_full_message(directory)) from None
            raise

    # ---- our own outputs ----
    def _from_bucket(self, url: str, shown: str, file: IO[bytes]) -> None:
        key = tenant_key(url, self._bucket, self._tenant_id)
        if key is None:
            raise InputRefused(f"the input {shown} is not an output of this service for this client")
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "AccessDenied"):
                gone = f"the input {shown} no longer exists (outputs are kept for a limited time)"
                raise InputRefused(gone) from None
            raise InputUnavailable("the outputs bucket could not be read; the job will be retried") from None
        except BotoCoreError:
            raise InputUnavailable("the outputs bucket could not be read; the job will be retried") from None
        self._check_length(answer.get("ContentLength"), shown)
        _copy(answer["Body"], file, self._limits.max_bytes, shown, self._heartbeat)

    # ---- a client's URL ----
    def _over_http(self, url: str, shown: str, file: IO[bytes]) -> None:
        left = self._time_left()
        limit = self._limits.timeout_seconds if left is None else max(0.1, min(left, self._limits.timeout_seconds))
        deadline = Deadline(limit)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                location = self._get(url, shown, file, deadline)
                if location is None:
                    return
                url = urljoin(url, location)  # checked like the first URL on the next turn
            raise InputRefused(f"the input {shown} redirects more than {MAX_REDIRECTS} times")
        except RefusedAddress as refused:
            if _resolver_busy(refused):
                raise InputUnavailable(f"the input {shown} could not be resolved for now (DNS)") from None
            raise InputRefused(f"the input {shown} cannot be fetched: {refused}") from None
        except InputRefused:
            raise
        except (OSError, http.client.HTTPException) as error:
            if is_disk_full(error):  # our disk, not the server: not retried (__call__ says it in words)
                raise
            if deadline.expired or isinstance(error, TimeoutError):
                if limit < self._limits.timeout_seconds:
                    spent = f"the input {shown} did not arrive within the {round(limit, 1):g} s left of the job's time"
                    raise InputUnavailable(spent) from None
                seconds = f"{self._limits.timeout_seconds:g}"
                raise InputUnavailable(f"the input {shown} did not arrive within {seconds} s") from None
            if isinstance(error, ssl.SSLCertVerificationError):
                raise InputRefused(f"the input {shown} has a TLS certificate that does not verify") from None
            if isinstance(error, ConnectionRefusedError):  # a reset (mid-body, by a proxy) may pass: retried
                raise InputRefused(f"the input {shown} is unreachable (the server refused the connection)") from None
            raise InputUnavailable(f"the input {shown} could not be downloaded ({type(error).__name__})") from None
        finally:
            deadline.cancel()
            deadline.close_socket()

    def _get(self, url: str, shown: str, file: IO[bytes], deadline: Deadline) -> str | None:
        """One GET: the body into `file`, or the Location of a redirect (None when the body was read)."""
        connection, host_header, path = self._transport.connect(url, deadline)
        try:
            connection.request("GET", path, headers={"Host": host_header, "Accept": "*/*", "User-Agent": USER_AGENT})
            response = connection.getresponse()
            status = response.status
            if status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                return response.getheader("Location")
            if status in (408, 429) or status >= 500:  # the server's time-out, too busy, its own failure
                raise InputUnavailable(f"the input {shown} is unavailable for now (the server answered {status})")
            if status != 200:
                raise InputRefused(f"the input {shown} cannot be downloaded (the server answered {status})")
            content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if content_type in _NOT_MEDIA:
                raise InputRefused(f"the input {shown} is a web page (text/html), not a media file")
            self._check_length(response.getheader("Content-Length"), shown)
            _copy(response, file, self._limits.max_bytes, shown, self._heartbeat)
            if deadline.expired:
                raise TimeoutError("deadline")
            return None
        finally:
            connection.close()

    def _check_length(self, declared: Any, shown: str) -> None:
        with contextlib.suppress(TypeError, ValueError):
            if int(declared) > self._limits.max_bytes:
                raise InputRefused(_too_large(shown, self._limits.max_bytes))


def _copy(source: Any, file: IO[bytes], max_bytes: int, shown: str, heartbeat: Callable[[], None]) -> None:
    """Copy at most max_bytes; one byte more refuses the input (a Content-Length may lie or be absent)."""
    while chunk := source.read(CHUNK):
        if file.tell() + len(chunk) > max_bytes:
            raise InputRefused(_too_large(shown, max_bytes))
        file.write(chunk)
        heartbeat()


def _too_large(shown: str, max_bytes: int) -> str:
    return f"the input {shown} is larger than the {max_bytes:,} bytes a media input may have"


@contextlib.contextmanager
def _new_file(directory: pathlib.Path, url: str) -> Iterator[tuple[pathlib.Path, IO[bytes]]]:
    """A new file in `directory` (its extension from the URL's path, as probes like one), removed unless the
    body completes."""
    found = _EXTENSION.search(urlsplit(url).path)
    descriptor, name = tempfile.mkstemp(dir=directory, prefix="input-", suffix=found[0].lower() if found else "")
    path = pathlib.Path(name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            yield path, file
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _shown(url: str) -> str:
    """The URL as an error names it: scheme, host and path, never a query (it may hold a signature)."""
    parts = urlsplit(url)
    path = parts.path if len(parts.path) <= 80 else parts.path[:77] + "..."
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}" if parts.netloc else url[:80]


def _resolver_busy(refused: RefusedAddress) -> bool:
    """The name could not be resolved for now (EAI_AGAIN: the DNS server failed or timed out), which a later
    attempt may pass; a name that does not exist (EAI_NONAME) stays a bad input."""
    cause = refused.__cause__
    return isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_AGAIN
