"""The credential rule of docs/security.md#credentials, property-tested: every spelling of every common
form is sealed and opens back exactly; the fast path never skips a credential; opened values are scrubbed
from failure texts in every form they can take there."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from execution_api.core.credentials import (
    _BARE_USERINFO,
    REDACTED,
    SEALED,
    TOKEN_COUNT_WORDS,
    CredentialVault,
    OpenedCredentials,
    _credential_places,
    is_credential_key,
    is_credential_value,
    might_hold_credentials,
    open_job_params,
    scrub,
    take_credentials,
)

ROOT = Path(__file__).resolve().parents[2]
# The forms issue 23 names (point 8 and the audit after it), and the first six words.
FORMS = [
    "api_key", "apiToken", "token", "secret", "password", "authorization", "access_token", "accessToken",
    "refresh_token", "sessionToken", "client_secret", "x-api-key", "secretKey", "aws_secret_access_key",
    "privateKey", "bearer", "auth", "passwd", "credentials",
    "apiKeys", "api_keys", "secrets", "passwords", "basicAuth", "x-auth", "oauth", "proxy-authorization",
    "accessTokens", "refresh_tokens", "privateKeys", "clientSecrets",
    # "<word>tokens" holds credentials unless the word counts tokens (review findings)
    "hf_tokens", "githubTokens", "idTokens", "adminTokens", "deviceTokens",
]  # fmt: skip
# Ordinary names that hold a credential word: "tokens" counts tokens (LLM and speech models), an author is
# no auth, a secretary no secret.
NOT_CREDENTIALS = [
    "tokens", "maxTokens", "outputTokens", "num_tokens", "keyframes", "prompt", "author", "authorName", "authors",
    "secretary", "passage", "key", "keys", "monkeys", "authority", "authentic",
    # token counts and a model's own tokens, as LLM and speech APIs name them
    "minTokens", "max_new_tokens", "min_new_tokens", "inputTokens", "promptTokens", "max_completion_tokens",
    "total_tokens", "max_output_tokens", "budget_tokens", "reasoningTokens", "cached_tokens", "skip_special_tokens",
    "suppress_tokens", "stopTokens",
]  # fmt: skip


def words(name: str) -> list[str]:
    """A name split into its words: access_token -> [access, token]; secretKey -> [secret, key]."""
    spaced = "".join(" " + c.lower() if c.isupper() else c for c in name).replace("_", " ").replace("-", " ")
    return spaced.split()


@st.composite
def spelling(draw: st.DrawFn, names: list[str] = FORMS) -> str:
    """A name in any case, its words joined by any separator, with whitespace around it."""
    parts = words(draw(st.sampled_from(names)))
    cased = [
        "".join(
            c.upper() if up else c
            for c, up in zip(part, draw(st.lists(st.booleans(), min_size=len(part), max_size=len(part))), strict=True)
        )
        for part in parts
    ]
    separators = draw(st.lists(st.sampled_from(["", "_", "-", ".", " "]), min_size=len(parts), max_size=len(parts)))
    joined = "".join(p + s for p, s in zip(cased, [*separators[1:], ""], strict=True))
    return draw(st.sampled_from(["", " ", "\t"])) + joined + draw(st.sampled_from(["", " ", "\n"]))


secret_values = st.one_of(
    st.text(min_size=6, max_size=20).filter(lambda s: s.strip() and s != SEALED),
    st.integers(min_value=10**6, max_value=10**12),
    st.dictionaries(st.sampled_from(["user", "pass"]), st.text(min_size=6, max_size=12), min_size=1),
)


@settings(max_examples=300, deadline=None)
@given(spelling())
def test_every_spelling_of_every_form_is_a_credential_name(key: str) -> None:
    assert is_credential_key(key), key


@settings(max_examples=200, deadline=None)
@given(spelling(NOT_CREDENTIALS))
def test_ordinary_names_are_not_credentials_in_any_spelling(key: str) -> None:
    assert not is_credential_key(key), key


@settings(max_examples=300, deadline=None)
@given(spelling(), secret_values, st.sampled_from(["top", "nested", "list"]))
def test_a_credential_is_sealed_wherever_it_is_and_opens_back_exactly(key: str, value: Any, where: str) -> None:
    # Given params with a credential somewhere
    params: dict[str, Any] = {"prompt": "a cat", "n": 2}
    if where == "top":
        params[key] = value
    elif where == "nested":
        params["provider"] = {"options": {key: value}}
    else:
        params["steps"] = [{"model": "m"}, {key: value}]
    # When it is taken
    vault = CredentialVault()
    assert might_hold_credentials(to_json(params))
    redacted, sealed = take_credentials(params, vault)
    # Then the stored params hold no trace of it, and the worker gets the params back exactly
    assert SEALED in json.dumps(redacted)
    assert json.dumps(value) not in json.dumps(redacted)
    assert len(sealed) == 1
    assert open_job_params(redacted, sealed, OpenedCredentials(vault.values, {})) == params


VALUE_TEMPLATES = [
    "https://{v}@cdn.example.com/a.mp4",
    "https://u:{v}@cdn.example.com/a.mp4",
    "https://x/a?api_key={v}",
    "https://x/a?w=1&Access-Token={v}",
    "https://x/a#token={v}",
    "https://x/a?api%5Fkey={v}",
    "Bearer {v}",
    "bearer {v}",
    "Basic {v}",
    # a header line named like a credential, alone or among others
    "Authorization: Bearer {v}",
    "authorization:Basic {v}",
    "Proxy-Authorization: Bearer {v}",
    "X-Api-Key: {v}",
    "Accept: */*\nX-Auth: {v}",
    # ... or named like one inside a line, or in JSON text
    "note: x-api-key: {v}",
    "headers X-Auth-Token:{v}",
    'curl -H "Authorization: Bearer {v}"',
    '{{"api_key": "{v}"}}',
    "{{'model': 'm', 'token': '{v}'}}",
    # user:pass@ without a scheme: the user holds a letter, the host is a domain name, an IP or localhost
    "user:{v}@host.example.com",
    "ghp_{v}:x-oauth-basic@github.com",
    "admin:{v}@localhost:5432",
    "db user:{v}@10.0.0.7:5432",
    "//:{v}@cache.example.com",
    # a parameter named like a credential, bare in the text
    "api_key={v}",
    "w=1 token={v}",
    "client_secret={v}&grant_type=client_credentials",
]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(VALUE_TEMPLATES),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=16),
    st.sampled_from(["url", "source", "headers"]),
)
def test_a_credential_inside_a_value_seals_the_value_whatever_its_key(template: str, secret: str, key: str) -> None:
    value = template.format(v=secret)
    params = {"inputs": [{key: value}], "prompt": "a cat"}
    assume(secret not in json.dumps({"inputs": [{key: "[sealed]"}], "prompt": "a cat"}))  # e.g. "prompt" itself
    assert is_credential_value(value)
    assert might_hold_credentials(to_json(params))
    vault = CredentialVault()
    redacted, sealed = take_credentials(params, vault)
    assert secret not in json.dumps(redacted)
    assert open_job_params(redacted, sealed, OpenedCredentials(vault.values, {})) == params


def test_the_words_that_count_tokens_are_the_documented_ones() -> None:
    rule = " ".join((ROOT / "docs" / "security.md").read_text(encoding="utf-8").split("### Credentials")[1].split())
    documented = rule.split("names a model's own tokens (")[1].split(")")[0].replace("but not `admin`", "")
    assert re.findall(r"`(\w+)`", documented) == list(TOKEN_COUNT_WORDS)
    for word in TOKEN_COUNT_WORDS:
        assert not is_credential_key(f"{word}_tokens")
        assert is_credential_key(f"{word}_token")  # one token of any kind is a credential


def test_ordinary_values_are_not_credentials() -> None:
    for value in [
        "a cat at sunset", "https://cdn.example.com/a.mp4?w=1&tokens=3", "mail bob@example.com", "Bearer",
        "mailto:bob@example.com", "https://cdn.example.com/a@2x.png", "https://example.com:8080/a@b", "x=1 y=2",
        "Note: a cat", "Speaker 1: hello", "00:00:01,000 --> 00:00:02,000", "ratio 16:9", "author: Ann",
        "maxTokens=3",
        # prompts that look like user:pass@host or a header inside a line (review findings)
        "16:9@30fps portrait", "time 10:30@studio", "ratio 16:9@1.5x", "meet at 10:30@cafe.example.com",
        "Scene: a cat", "a cat. The secret: a garden", 'a "cat": at dusk', "Time: 10:30", "max_tokens: 300",
        "https://example.com/models/gemini-1.5-pro:generateContent",
    ]:  # fmt: skip
        assert not is_credential_value(value), value


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from(["30fps", "studio", "1.5x", "noon"]),
    st.text("abc ,.", max_size=40),
)
def test_numbers_before_an_at_sign_are_a_prompt_not_a_user_and_password(a: int, b: int, after: str, rest: str) -> None:
    # "16:9@30fps", "10:30@studio": a ratio or a time, wherever it stands in a prompt
    prompt = f"a cat, {a}:{b}@{after} {rest}"
    assert not _BARE_USERINFO.search(prompt), prompt


keys = st.one_of(spelling(), st.sampled_from(NOT_CREDENTIALS), st.text(max_size=10))
# Values near the credential forms: each template around any text, including none
near_credentials = st.builds(
    lambda template, v: template.format(v=v), st.sampled_from(VALUE_TEMPLATES), st.text(max_size=8)
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=24), near_credentials)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=12
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values, max_size=5))
def test_the_fast_path_never_skips_params_that_hold_a_credential(params: dict[str, Any]) -> None:
    if list(_credential_places(params)):
        assert might_hold_credentials(to_json(params))


@settings(max_examples=200, deadline=None)
@given(st.lists(secret_values, min_size=1, max_size=3), st.sampled_from(["{}", "failed: {}", "<{}>"]))
def test_a_failure_text_keeps_no_opened_value_in_any_form(opened: list[Any], frame: str) -> None:
    # Given a failure text that quotes the opened values as text, as JSON and as Python does
    text = frame.format(" | ".join(f"{v} {json.dumps(v)} {v!r}" for v in opened))
    # When it is scrubbed
    scrubbed = scrub(text, opened)
    # Then no leaf of any value is left in it
    leaves = [str(v) for o in opened for v in (o.values() if isinstance(o, dict) else [o])]
    for leaf in leaves:
        assert leaf not in scrubbed
    assert REDACTED in scrubbed


def test_a_short_value_is_scrubbed_where_it_stands_alone_and_ordinary_words_stay_readable() -> None:
    text = 'attempt 7 failed: {"token":7,"pin":"ab1"} after 17 tries with ab12'
    assert (
        scrub(text, [7, "ab1"])
        == 'attempt [redacted] failed: {"token":[redacted],"pin":"[redacted]"} after 17 tries with ab12'
    )
