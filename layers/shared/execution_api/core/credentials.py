"""Credentials in a plan (provider keys, and credential-like keys inside job params) are sealed with
KMS under the execution's encryption context, like the webhook secret, and never stored in clear.

Intake: `take_credentials` replaces each credential value inside params with SEALED and collects
the values; the service seals them (with the provider keys) in ONE KMS call per execution. The
job item keeps, per sealed place, an index into that sealed list. Workers: `open_job_params`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from pydantic import SecretStr
from pydantic_core import to_json

from execution_api.core.sealing import CredentialCipher, SecretSealer

SEALED = "[sealed]"
REDACTED = "[redacted]"
SHORT_VALUE = 4  # see scrub
# The rule (docs/security.md#credentials): a key is folded (surrounding whitespace dropped, lower-cased,
# '_', '-', '.' and spaces removed) and is a credential when it is "bearer" or ends with one of these words,
# or with its plural: apiKey, apiKeys, x-api-key, basicAuth, x-auth, access_token, client_secret, secrets,
# aws_secret_access_key, "Private Key", passwords, ... Plain "tokens" counts tokens, and so do the LLM
# parameters named below (maxTokens, max_new_tokens, outputTokens); any other "<word>tokens" holds
# credentials (hf_tokens, githubTokens, idTokens).
CREDENTIAL_KEYS = frozenset({"bearer"})
_CREDENTIAL_SUFFIX_WORDS = (
    "apikey", "auth", "authorization", "credential", "passwd", "password", "privatekey", "secret", "secretkey",
    "secretaccesskey",
)  # fmt: skip
CREDENTIAL_SUFFIXES = (*_CREDENTIAL_SUFFIX_WORDS, *(word + "s" for word in _CREDENTIAL_SUFFIX_WORDS), "token")
# The words before "tokens" that count tokens or name a model's own tokens (max_new_tokens, budget_tokens,
# skip_special_tokens, suppress_tokens), matched where a folded key ends; "min" not after "ad" (adminTokens).
TOKEN_COUNT_WORDS = (
    "max", "min", "new", "num", "total", "input", "output", "prompt", "completion", "generated", "reasoning",
    "thinking", "budget", "cached", "context", "text", "image", "audio", "video", "vision", "special", "added",
    "stop", "suppress", "allowed", "banned", "bad", "pad", "eos", "bos",
)  # fmt: skip
_TOKEN_COUNTS = re.compile(
    "(?:^|" + "|".join("(?<!ad)min" if word == "min" else word for word in TOKEN_COUNT_WORDS) + ")tokens$"
)
# Every folded credential key holds one of these (the fast path's words); "basic" and "digest" are there
# for credentials inside values ("Basic dXNlcg==").
_CREDENTIAL_WORDS = (
    "apikey",
    "auth",
    "basic",
    "bearer",
    "credential",
    "digest",
    "passw",
    "privatekey",
    "secret",
    "token",
)
# Credentials inside a string value: an Authorization header's value, a header line named like a credential
# ("Authorization: Bearer x", "X-Api-Key: k"), a URL's user:pass@ (with or without a scheme), a parameter
# named like a credential in a URL's query or fragment or bare in the text (?api_key=..., api_key=...).
# Such a value is sealed whole.
_AUTH_HEADER_VALUE = re.compile(
    r"\s*(?:(?:bearer|basic|token)\s+[\w.~+/=-]+\s*|digest\s+\w+=.*)", re.IGNORECASE | re.DOTALL
)
_AUTH_SCHEMES = ("bearer", "basic", "token")
# "://" after a scheme's character: a scheme matched from each of its letters would cost quadratic time on a
# long word with an '@' in it (64 KiB of params: 23 s).
_URL_USERINFO = re.compile(r"(?<=[a-z0-9+.-])://[^\s/?#@]+@", re.IGNORECASE)
# user:pass@host without a scheme, or after "//". Bare, the user holds a letter and the host is a domain
# name or localhost, so "16:9@30fps" and "10:30@studio" stay prompts; "mailto:bob@host" and the like name a
# scheme, not a user.
_BARE_USERINFO = re.compile(
    r"//[^\s/?#@:]*:[^\s/?#@]+@[^\s/?#@]"
    r"|(?:^|[\s/])(?!(?:mailto|sips?|xmpp|im|pres):)(?=[^\s/?#@:]*[a-z])[^\s/?#@:]+:[^\s/?#@]+@"
    r"(?:localhost\b|[\w-]+(?:\.[\w-]+)+)",
    re.IGNORECASE,
)
_PARAMETER = re.compile(r"(?:^|[?&;#\s])([^=&;#\s?]+)=[^&;#\s]")
_HEADER_LINE = re.compile(r"^[ \t]*([\w.-]+)[ \t]*:[ \t]*\S", re.MULTILINE)
# Inside a line ("note: x-api-key: k", '{"token": "k"}') only a name written as an identifier counts (one
# with '-', '_' or '.' inside, or camelCase), a quoted one (a key of JSON or YAML text) or "Authorization":
# a word of prose before a colon ("the secret: a garden") does not.
_INLINE_HEADER = re.compile(r"""(?<![\w./-])(["']?)([\w.-]+)\1[ \t]*:(?=[ \t]*\S)""")
_IDENTIFIER = re.compile(r"\w[-_.]\w|[a-z][A-Z]")
MAX_SEALED_BYTES = 4096  # KMS Encrypt's plaintext limit: one call per execution holds every credential


def fold(key: str) -> str:
    return _folded(key.strip().lower())


def _folded(text: str) -> str:
    # Four str.replace calls: several times faster than str.translate on the params' text.
    return text.replace("_", "").replace("-", "").replace(".", "").replace(" ", "")


def is_credential_key(key: str) -> bool:
    folded = fold(key)
    if folded.endswith("tokens"):
        return _TOKEN_COUNTS.search(folded) is None
    return folded in CREDENTIAL_KEYS or folded.endswith(CREDENTIAL_SUFFIXES)


def is_credential_value(value: str) -> bool:
    """A string that carries a credential whatever its key is called."""
    if ("@" in value or "=" in value) and (
        _URL_USERINFO.search(value)
        or _BARE_USERINFO.search(value)
        or _AUTH_HEADER_VALUE.fullmatch(value)
        or any(is_credential_key(unquote(name)) for name in _PARAMETER.findall(value))
    ):
        return True
    if ":" in value and (
        any(is_credential_key(name) for name in _HEADER_LINE.findall(value))
        or any(_inline_credential_header(quote, name) for quote, name in _INLINE_HEADER.findall(value))
    ):
        return True
    # Most strings end here: an Authorization header's value starts with its scheme.
    return value.lstrip()[:7].lower().startswith(_AUTH_SCHEMES) and _AUTH_HEADER_VALUE.fullmatch(value) is not None


def _inline_credential_header(quote: str, name: str) -> bool:
    named_as_header = bool(quote) or _IDENTIFIER.search(name) is not None or fold(name) == "authorization"
    return named_as_header and is_credential_key(name)


@dataclass
class CredentialVault:
    """The distinct credential values of one plan; jobs refer to them by index."""

    values: list[Any] = field(default_factory=list)
    provider_api_keys: dict[str, str] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, value: Any) -> int:
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in self._index:
            self._index[key] = len(self.values)
            self.values.append(value)
        return self._index[key]

    def __bool__(self) -> bool:
        return bool(self.values or self.provider_api_keys)

    def plaintext(self) -> bytes:
        from execution_api.core import exact_json  # numbers inside a credential keep their digits too

        return exact_json.dumps({"values": self.values, "providerApiKeys": self.provider_api_keys}).encode("utf-8")


def take_credentials(
    params: dict[str, Any], vault: CredentialVault, params_json: bytes | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """`params` with every credential value replaced by SEALED, and where each went in the vault.
    `params_json`: the params' pydantic-core `to_json`, when the caller has it already."""
    if not might_hold_credentials(to_json(params) if params_json is None else params_json):
        return params, {}
    places = list(_credential_places(params))
    if not places:
        return params, {}
    redacted = copy.deepcopy(params)
    sealed: dict[str, int] = {}
    for path in places:
        parent = _walk(redacted, path[:-1])
        sealed[_pointer(path)] = vault.add(parent[path[-1]])
        parent[path[-1]] = SEALED
    return redacted, sealed


def might_hold_credentials(params_json: bytes) -> bool:
    """False only when nothing inside the params (given as JSON text) can be a credential: the walk is
    skipped for most jobs.

    A credential key holds a credential word spelt in letters with '_', '-', '.' or spaces between them,
    all of which JSON writes as they are; so, folded the same way, the params' JSON text holds the word
    wherever the key holds it (str.lower folds character by character). A credential value holds a word
    too ("Bearer", "api_key=", "X-Api-Key: ..."), or an '@' (user:pass@host) or a '%' (an encoded "api%5Fkey=")."""
    text = params_json.decode("utf-8")
    if "@" in text or "%" in text:  # a URL's user information; a parameter name written percent-encoded
        return True
    folded = _folded(text.lower())
    for word in _CREDENTIAL_WORDS:  # noqa: SIM110 - per job: a generator would cost more than the search
        if word in folded:
            return True
    return False


def seal(cipher: SecretSealer, execution_id: str, vault: CredentialVault) -> bytes:
    return cipher.seal(execution_id, SecretStr(vault.plaintext().decode("utf-8")))


@dataclass(frozen=True)
class OpenedCredentials:
    values: list[Any]
    provider_api_keys: dict[str, str]


def open_credentials(cipher: CredentialCipher, execution_id: str, ciphertext: bytes) -> OpenedCredentials:
    """For the worker only (its IAM alone may decrypt): fails unless sealed for this execution."""
    from execution_api.core import exact_json

    opened = exact_json.loads(cipher.unseal(execution_id, ciphertext).get_secret_value())
    return OpenedCredentials(opened["values"], opened["providerApiKeys"])


def credential_values(opened: OpenedCredentials) -> list[Any]:
    """Every credential value opened for an execution's jobs: what no failure text of theirs may carry."""
    return [*opened.values, *opened.provider_api_keys.values()]


def open_job_params(
    params: dict[str, Any],
    sealed_params: Mapping[str, int],
    credentials: OpenedCredentials | None,
    resolve: Callable[[Any], Any] = lambda value: value,
) -> dict[str, Any]:
    """A job's params as the client sent them, credentials back in place. `resolve` is what resolved the
    params' dependency references: a sealed place under a reference key is found under the key it became,
    and the credential value is resolved too (a credential may itself be a reference)."""
    if not sealed_params:
        return params
    if credentials is None:
        raise ValueError("the job has sealed params but the execution has no sealed credentials")
    restored = copy.deepcopy(params)
    for pointer, index in sealed_params.items():
        path = _path(pointer)
        parent: Any = restored
        for part in path[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[_resolved_key(part, resolve)]
        place = int(path[-1]) if isinstance(parent, list) else _resolved_key(path[-1], resolve)
        parent[place] = resolve(credentials.values[index])
    return restored


def _resolved_key(key: str, resolve: Callable[[Any], Any]) -> str:
    resolved = resolve(key)
    return resolved if isinstance(resolved, str) else key  # as params.resolve_references keeps a key


def scrub(text: str, opened: list[Any]) -> str:
    """`text` with every credential value opened for a job replaced by REDACTED: as written, as JSON and
    as Python would quote it, longest first (so no part of a longer value is left behind). A value of
    fewer than SHORT_VALUE characters (a `{"token": 7}`) is replaced where it stands as a whole word only,
    so the digits and letters of ordinary words stay readable."""
    forms = {form for value in opened for leaf in _leaves(value) for form in _spellings(leaf)}
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= SHORT_VALUE:
            text = text.replace(form, REDACTED)
        else:
            text = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", REDACTED, text)
    return text


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str):
        yield value
    elif value is not None and not isinstance(value, bool):
        yield str(value)  # a number's digits


def _spellings(leaf: str) -> set[str]:
    forms = {leaf, json.dumps(leaf)[1:-1], json.dumps(leaf, ensure_ascii=False)[1:-1], repr(leaf)[1:-1]}
    return {form for form in forms if form}


def _credential_places(value: Any) -> Iterator[tuple[str | int, ...]]:
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, dict):
            for key, item in current.items():
                if is_credential_key(key) or (isinstance(item, str) and is_credential_value(item)):
                    yield (*path, key)  # the whole value is sealed; nothing inside it is looked at
                elif isinstance(item, dict | list):
                    stack.append(((*path, key), item))
        elif isinstance(current, list):
            for i, item in enumerate(current):
                if isinstance(item, str) and is_credential_value(item):
                    yield (*path, i)
                elif isinstance(item, dict | list):
                    stack.append(((*path, i), item))


def _walk(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _path(pointer: str) -> tuple[str, ...]:
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:])
