"""Which webhook URLs the service will call back: core.destinations' rules, said of "the webhook URL" with the
API's codes, and the secret a plan's webhook must carry. The sender checks the resolved addresses again at
send time (core.egress).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ada_url import URL

from execution_api.core.destinations import url_problem
from execution_api.core.errors import Violation
from execution_api.webhooks.signing import whsec_problem

if TYPE_CHECKING:
    from execution_api.models.plan import WebhookTarget

_CODES = {
    "invalid": "invalid_webhook_url",
    "credentials": "invalid_webhook_url",
    "insecure": "insecure_webhook_url",
    "not_allowed": "webhook_host_not_allowed",
}


def webhook_url_problem(url: str, *, allow_insecure: bool) -> tuple[str, str] | None:
    """Return (code, message) when the service must not call `url`, or None when it may.

    `allow_insecure` admits `http` and loopback hosts for local experiments; private,
    link-local and the other non-global ranges stay refused either way.
    """
    problem = url_problem(url, allow_insecure=allow_insecure)
    if problem is None:
        return None
    message = "the webhook URL" + problem.sentence.removeprefix("the URL")
    if problem.kind == "credentials":
        message += "; use the webhook secret"
    return _CODES[problem.kind], message


def normalized_webhook_url(url: str) -> str:
    """The URL as a sender will use it (what is stored): call only on a URL that passed the check."""
    return str(URL(url).href)


def webhook_problems(webhook: WebhookTarget, *, allow_insecure: bool = False) -> list[Violation]:
    """A plan's webhook: a URL we may call, and a secret in the Standard Webhooks form."""
    found: list[Violation] = []
    problem = webhook_url_problem(webhook.url, allow_insecure=allow_insecure)
    if problem is not None:
        found.append(Violation(webhook.pointer, *problem))
    secret = webhook.secret.get_secret_value() if webhook.secret else ""
    secret_problem = whsec_problem(secret)
    if secret_problem is not None:
        where = webhook.pointer
        where = where.removesuffix("/url") + "/secret" if where.endswith("/url") else "/options/webhookSecret"
        found.append(Violation(where, "invalid_webhook_secret", secret_problem))
    return found
