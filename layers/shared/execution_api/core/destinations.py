"""Which URLs the service may call out to (a webhook, a media input): a pure check on the URL as senders
parse it, and on an address its host is or resolves to.

The URL is parsed by the WHATWG URL standard (ada-url, the parser inside Node.js), the rules that
urllib3, requests, browsers and `fetch` follow, so the host judged here is the host a sender would
connect to: a backslash ends the authority, `2130706433` and `0x7f.1` are IPv4, fullwidth letters
are IDNA-mapped. Input a sender would silently repair (tabs, control characters, spaces) is refused.
core.egress checks the resolved addresses again at connection time with `address_problem`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, NamedTuple

from ada_url import URL

from execution_api.core.limits import MAX_WEBHOOK_URL_LENGTH

_CONTROL_SPACE_OR_BACKSLASH = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlProblem(NamedTuple):
    """Why the service must not call a URL: a kind (a caller names it its own way) and a sentence about
    "the URL"."""

    kind: Literal["invalid", "credentials", "insecure", "not_allowed"]
    sentence: str


def url_problem(url: str, *, allow_insecure: bool) -> UrlProblem | None:
    """Why the service must not call `url`, or None when it may.

    `allow_insecure` admits `http` and loopback hosts for local experiments; private,
    link-local and the other non-global ranges stay refused either way.
    """
    problem = _spelling_problem(url)
    if problem is not None:
        return problem
    try:
        parsed = URL(url)
    except ValueError:
        return UrlProblem("invalid", "the URL is not a valid absolute URL")
    if parsed.protocol not in ("https:", "http:") or not parsed.hostname:
        return UrlProblem("invalid", "the URL must be an absolute https URL with a host")
    if parsed.protocol == "http:" and not allow_insecure:
        return UrlProblem("insecure", "the URL must use https")
    host = parsed.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_insecure else _refused("a loopback host")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None  # a name: WHATWG already turned every numeric spelling into an address
    reason = address_problem(address, allow_insecure=allow_insecure)
    return None if reason is None else _refused(reason)


def address_problem(address: IpAddress, *, allow_insecure: bool) -> str | None:
    """Why the service must not connect to `address` (a literal host or a resolved one), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            address = embedded
    if address.is_loopback:
        return None if allow_insecure else "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address (this range holds the cloud metadata endpoint)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or getattr(address, "is_site_local", False):  # fec0::/10, deprecated site-local
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved or shared address"
    return None


def _spelling_problem(url: str) -> UrlProblem | None:
    # A media input's URL is held to the webhook URL's length: one limit for every URL the service calls.
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        return UrlProblem("invalid", f"the URL is longer than {MAX_WEBHOOK_URL_LENGTH} characters")
    if _CONTROL_SPACE_OR_BACKSLASH.search(url):
        return UrlProblem("invalid", "the URL must not contain spaces, control characters or backslashes")
    authority = _AUTHORITY.match(url)
    if authority is None or not authority[1]:
        return UrlProblem("invalid", "the URL must be an absolute https URL with a host")
    if "@" in authority[1]:
        # Credentials in a URL would be stored and shown by the status endpoint.
        return UrlProblem("credentials", "the URL must not contain credentials")
    if "%" in authority[1]:
        return UrlProblem("invalid", "the URL's host must not be percent-encoded")
    return None


def _refused(what: str) -> UrlProblem:
    return UrlProblem("not_allowed", f"the URL points to {what}, which the service will not call")
