"""Which webhook URLs the service will call back: a pure check, no DNS, no network."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

MAX_WEBHOOK_URL_LENGTH = 2048

# WHATWG URL parsing treats a host whose last label is a number as IPv4 (`http://2130706433/`,
# `http://0x7f.1/`): so do we, or such spellings would slip past the address checks.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def webhook_url_problem(url: str, *, allow_insecure: bool) -> tuple[str, str] | None:
    """Return (code, message) when the service must not call `url`, or None when it may.

    `allow_insecure` admits `http` and loopback hosts for local experiments; private,
    link-local and the other non-global ranges stay refused either way.
    """
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        return "invalid_webhook_url", f"the webhook URL is longer than {MAX_WEBHOOK_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "invalid_webhook_url", "the webhook URL is not a valid absolute URL"
    if parts.scheme not in ("https", "http") or not hostname:
        return "invalid_webhook_url", "the webhook URL must be an absolute https URL with a host"
    if parts.scheme == "http" and not allow_insecure:
        return "insecure_webhook_url", "the webhook URL must use https"
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL would be stored and shown by the status endpoint: use webhookSecret.
        return "invalid_webhook_url", "the webhook URL must not contain credentials; use the webhook secret"
    if any(ch.isspace() for ch in url):
        return "invalid_webhook_url", "the webhook URL must not contain white space"

    if "%" in hostname:
        return "invalid_webhook_url", "the webhook URL's host must not be percent-encoded"
    if "[" in parts.netloc and ":" not in hostname:  # brackets hold IPv6 only (not IPvFuture, not names)
        return "invalid_webhook_url", "the webhook URL's bracketed host is not an IPv6 address"
    host = hostname
    if not host.isascii():
        try:
            # What a client really connects to: IDNA maps fullwidth digits, letters and dots to ASCII.
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return "invalid_webhook_url", "the webhook URL's host is not a valid host name"
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_insecure else _refused("a loopback host")
    address = _ip_literal(host)
    if address is None:
        if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            return "invalid_webhook_url", "the webhook URL's host is neither a valid name nor a valid IP address"
        return None
    return address_problem(address, allow_insecure=allow_insecure)


def address_problem(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_insecure: bool
) -> tuple[str, str] | None:
    """Return (code, message) when the service must not connect to `address`: the ranges of SPEC section 2.

    Used for IP literals at intake and for every address a host name resolves to at send time.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            address = embedded
    if address.is_loopback:
        return None if allow_insecure else _refused("a loopback address")
    if address.is_unspecified:
        return _refused("an unspecified address")
    if address.is_link_local:
        return _refused("a link-local address (this range holds the cloud metadata endpoint)")
    if address.is_multicast:
        return _refused("a multicast address")
    if address.is_private or getattr(address, "is_site_local", False):  # fec0::/10, deprecated site-local
        return _refused("a private address")
    if address.is_reserved or not address.is_global:
        return _refused("a reserved or shared address")
    return None


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)  # IPv6 (brackets already removed) and dotted-quad IPv4
    except ValueError:
        pass
    if not all(_NUMERIC_LABEL.match(label) for label in host.split(".")):
        return None
    try:
        # inet_aton accepts the legacy spellings browsers accept: 127.1, 0177.0.0.1, 0x7f000001.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _refused(what: str) -> tuple[str, str]:
    return "webhook_host_not_allowed", f"the webhook URL points to {what}, which the service will not call"
