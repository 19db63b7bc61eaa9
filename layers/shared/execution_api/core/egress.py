"""The one way the service connects out (a webhook's POST, a media input's GET): to a URL core.destinations
allows, with the SSRF checks built into how the connection is made (docs/security.md).

The host is resolved once; every address is checked against the ranges core.destinations refuses; the
socket is then opened to one of those checked addresses, never to the name. So DNS rebinding between the
check and the connection cannot happen: there is no second resolution. For https the socket is
wrapped with the host name as SNI and the certificate is verified against that name; the Host header
names the host too. http.client never follows redirects and never reads proxy variables.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence

from ada_url import URL

from execution_api.core.destinations import IpAddress, address_problem, url_problem

Resolver = Callable[[str, int], Sequence[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6), in its order, without duplicates."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _canonical, sockaddr in found:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class RefusedAddress(Exception):
    """The URL, or an address its host resolves to, is one the service must not call."""


class CheckedTransport:
    """Connections to URLs the service may call; `allow_insecure` admits http and loopback hosts (local
    fakes), the other refused ranges stay refused."""

    def __init__(
        self, *, allow_insecure: bool, resolver: Resolver = resolve_host, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self._allow_insecure = allow_insecure
        self._resolve = resolver
        self._tls = tls_context or ssl.create_default_context()

    def connect(self, url: str, deadline: Deadline) -> tuple[http.client.HTTPConnection, str, str]:
        """(connection, Host header, path with query) for `url`, its socket connected to a checked address of
        the host (TLS done for https) under `deadline`; raises RefusedAddress, OSError."""
        scheme, host, port, path = self._checked_target(url)
        addresses = self._checked_addresses(host, port)
        sock = deadline.watch(self._open_socket(addresses, port, deadline))
        if scheme == "https":
            # SNI and the certificate check use the name; the handshake runs under the deadline too.
            tls = self._tls.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
            sock = deadline.watch(tls)
            tls.do_handshake()
        default_port = 443 if scheme == "https" else 80
        host_header = _bracketed(host) if port == default_port else f"{_bracketed(host)}:{port}"
        connection = http.client.HTTPConnection(host_header)
        connection.sock = sock  # already connected to the checked address: http.client does no lookup
        return connection, host_header, path

    def _checked_target(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, ASCII host, port, path with query) of a URL the service may call."""
        problem = url_problem(url, allow_insecure=self._allow_insecure)
        if problem is not None:
            raise RefusedAddress(problem.sentence)
        parsed = URL(url)  # WHATWG, as at intake: the host judged is the host connected to
        scheme = parsed.protocol.rstrip(":")
        host = parsed.hostname.strip("[]")
        port = int(parsed.port) if parsed.port else (443 if scheme == "https" else 80)
        return scheme, host, port, (parsed.pathname or "/") + parsed.search

    def _checked_addresses(self, host: str, port: int) -> list[IpAddress]:
        """Resolve once; refuse if ANY address is in a refused range, so a mix of public and private fails."""
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as error:
            raise RefusedAddress(f"{host} could not be resolved ({type(error).__name__})") from error
        if not addresses:
            raise RefusedAddress(f"{host} resolves to no address")
        for address in addresses:
            problem = address_problem(address, allow_insecure=self._allow_insecure)
            if problem is not None:
                raise RefusedAddress(f"{host} resolves to {address}: {problem}")
        return addresses

    def _open_socket(self, addresses: list[IpAddress], port: int, deadline: Deadline) -> socket.socket:
        last_error: OSError = OSError("no address to connect to")
        for address in addresses:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise TimeoutError("connect")
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(remaining)
            try:
                sock.connect((str(address), port))
                return sock
            except OSError as error:
                sock.close()
                last_error = error
        raise last_error


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Deadline:
    """A hard limit for a whole attempt: at the deadline the socket is shut down, which wakes a blocked
    read, so a receiver that trickles bytes (each within the socket timeout) is cut off too."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.expired = False
        self._timer = threading.Timer(seconds, self._abort)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sock = sock
            sock.settimeout(max(0.001, self.remaining()))
            if self.expired:
                raise TimeoutError("deadline")
        return sock

    def _abort(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()

    def close_socket(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
