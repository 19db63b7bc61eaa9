"""Which webhook URLs the service calls back (docs/security.md, "Webhook URLs"): pure, no DNS, no network."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from execution_api.core.limits import MAX_WEBHOOK_URL_LENGTH
from execution_api.webhooks.urls import webhook_url_problem

INVALID = "invalid_webhook_url"
INSECURE = "insecure_webhook_url"
NOT_ALLOWED = "webhook_host_not_allowed"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "https://hooks.example.com:8443/x?y=1",
        "https://[2606:4700::1111]/",
        "https://1.1.1.1/",
        "HTTPS://Example.COM/Hook",
        "https://example.com./hook",
        "https://" + "a" * (MAX_WEBHOOK_URL_LENGTH - len("https://.com")) + ".com",
    ],
    ids=["name", "port-and-query", "global-ipv6", "global-ipv4", "upper-case", "trailing-dot", "exactly-2048"],
)
def test_given_a_public_https_url_when_checked_then_accepted(url: str) -> None:
    # Given a public https URL (at most 2048 characters)
    assert len(url) <= MAX_WEBHOOK_URL_LENGTH
    # When / Then
    assert webhook_url_problem(url, allow_insecure=False) is None


REFUSED = [
    # scheme, shape, length, credentials
    ("http://example.com", INSECURE),
    ("ftp://x", INVALID),
    ("not a url", INVALID),
    ("https://", INVALID),
    ("https:///path", INVALID),
    ("https://example.com:99999/", INVALID),
    ("https://" + "a" * (MAX_WEBHOOK_URL_LENGTH - len("https://.com") + 1) + ".com", INVALID),
    ("https://user:pass@example.com", INVALID),
    ("https://user@example.com", INVALID),
    ("https://exa mple.com/", INVALID),
    # loopback names and addresses, in every spelling
    ("https://localhost/", NOT_ALLOWED),
    ("https://LOCALHOST./", NOT_ALLOWED),
    ("https://foo.localhost/", NOT_ALLOWED),
    ("https://127.0.0.1/", NOT_ALLOWED),
    ("https://2130706433/", NOT_ALLOWED),
    ("https://0x7f000001/", NOT_ALLOWED),
    ("https://0x7f.1/", NOT_ALLOWED),
    ("https://0177.0.0.1/", NOT_ALLOWED),
    ("https://127.1/", NOT_ALLOWED),
    ("https://[::1]/", NOT_ALLOWED),
    ("https://[::ffff:127.0.0.1]/", NOT_ALLOWED),
    ("https://[::ffff:7f00:1]/", NOT_ALLOWED),
    ("https://[2002:7f00:1::]/", NOT_ALLOWED),
    # private, link-local, shared, multicast, unspecified, reserved
    ("https://10.0.0.1/", NOT_ALLOWED),
    ("https://172.16.0.1/", NOT_ALLOWED),
    ("https://192.168.1.1/", NOT_ALLOWED),
    ("https://169.254.169.254/latest/meta-data/", NOT_ALLOWED),
    ("https://[::ffff:169.254.169.254]/", NOT_ALLOWED),
    ("https://[fe80::1]/", NOT_ALLOWED),
    ("https://100.64.0.1/", NOT_ALLOWED),
    ("https://224.0.0.1/", NOT_ALLOWED),
    ("https://0.0.0.0/", NOT_ALLOWED),
    ("https://[::]/", NOT_ALLOWED),
    ("https://240.0.0.1/", NOT_ALLOWED),
    ("https://[fc00::1]/", NOT_ALLOWED),
    # a numeric last label that is no valid address
    ("https://1.2.3.999/", INVALID),
    ("https://1.2.3.4.5/", INVALID),
    ("https://example.123/", INVALID),
]


@pytest.mark.parametrize(("url", "code"), REFUSED, ids=[url[:60] for url, _ in REFUSED])
def test_given_a_url_the_service_must_not_call_when_checked_then_refused_with_its_code(url: str, code: str) -> None:
    # Given / When
    problem = webhook_url_problem(url, allow_insecure=False)
    # Then
    assert problem is not None
    assert problem[0] == code
    assert problem[1]


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("https://169.254.169.254/", "metadata"),
        ("https://[fe80::1]/", "metadata"),
        ("https://[::ffff:169.254.169.254]/", "metadata"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://2130706433/", "loopback"),
        ("https://224.0.0.1/", "multicast"),
        ("https://100.64.0.1/", "shared"),
        ("https://10.0.0.1/", "private"),
        ("https://127.0.0.1/", "loopback"),
        ("https://localhost/", "loopback"),
        ("http://example.com/", "https"),
        ("https://user:pass@example.com/", "credentials"),
        ("https://" + "a" * MAX_WEBHOOK_URL_LENGTH + ".com", "2048"),
    ],
)
def test_given_a_refused_url_when_checked_then_the_message_says_why(url: str, what: str) -> None:
    # Given / When
    problem = webhook_url_problem(url, allow_insecure=False)
    # Then
    assert problem is not None
    assert what in problem[1]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://localhost:8080",
        "http://foo.localhost/",
        "http://127.0.0.1",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://127.1:8080/",
        "https://127.0.0.1/",
    ],
)
def test_given_allow_insecure_when_http_or_loopback_then_accepted(url: str) -> None:
    # Given ALLOW_INSECURE_WEBHOOKS=true; When / Then
    assert webhook_url_problem(url, allow_insecure=True) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "https://10.0.0.1/",
        "http://169.254.169.254/",
        "http://[fe80::1]/",
        "http://192.168.1.1/",
        "http://0.0.0.0/",
    ],
)
def test_given_allow_insecure_when_private_or_link_local_then_still_refused(url: str) -> None:
    # Given ALLOW_INSECURE_WEBHOOKS=true; When
    problem = webhook_url_problem(url, allow_insecure=True)
    # Then
    assert problem is not None
    assert problem[0] == NOT_ALLOWED


@pytest.mark.parametrize(
    ("url", "code"),
    [("ftp://x", INVALID), ("http://user:pass@example.com", INVALID), ("http://", INVALID)],
)
def test_given_allow_insecure_when_the_url_is_malformed_then_still_invalid(url: str, code: str) -> None:
    # Given ALLOW_INSECURE_WEBHOOKS=true; When
    problem = webhook_url_problem(url, allow_insecure=True)
    # Then
    assert problem is not None
    assert problem[0] == code


@pytest.mark.parametrize(
    ("url", "means"),
    [
        ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "127.0.0.1"),
        ("https://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/", "169.254.169.254"),
        ("https://127\u30020\u30020\u30021/", "127.0.0.1"),
        ("https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", "localhost"),
        ("https://127.0.0.%31/", "127.0.0.1"),
        ("https://169.254.169.%32%35%34/", "169.254.169.254"),
    ],
    ids=["fullwidth-loopback", "fullwidth-metadata", "ideographic-dots", "fullwidth-localhost", "pct-1", "pct-254"],
)
def test_given_a_forbidden_host_in_a_unicode_or_percent_encoded_spelling_when_checked_then_refused(
    url: str, means: str
) -> None:
    """No loopback / link-local host "in any spelling" (docs/security.md). Clients normalise the host before connecting:
    IDNA (Python's socket module, `requests`) and UTS 46 (WHATWG) map fullwidth digits and letters and U+3002
    to ASCII, so Python's own socket.getaddrinfo on the fullwidth spelling connects to 127.0.0.1; WHATWG and
    RFC 3986 normalisation decode %XX in a host."""
    # Given a host that a client turns into a loopback or metadata host (checked here without any network)
    host = urlsplit(url).hostname
    assert host is not None
    assert unquote(host).encode("idna").decode("ascii") == means
    # When
    problem = webhook_url_problem(url, allow_insecure=False)
    # Then
    assert problem is not None, f"{url!r} is accepted, but a client calls {means} for it"
    # A percent-encoded host is refused as malformed; a Unicode spelling as the address it maps to.
    assert problem[0] == ("invalid_webhook_url" if "%" in url else NOT_ALLOWED)


@pytest.mark.parametrize("url", ["https://[v1.x]/", "https://[fec0::1]/", "https://[fec0::1]:8443/hook"])
def test_ipvfuture_and_site_local_literals_are_refused(url: str) -> None:
    problem = webhook_url_problem(url, allow_insecure=False)
    assert problem is not None
    assert problem[0] in {"invalid_webhook_url", "webhook_host_not_allowed"}
