"""Credentials in a plan (provider keys, and credential-like keys inside job params) are sealed with
KMS under the execution's encryption context, like the webhook secret, and never stored in clear.

Intake: `take_credentials` replaces each credential value inside params with SEALED and collects
the values; the service seals them (with the provider keys) in ONE KMS call per execution. The
job item keeps, per sealed place, an index into that sealed list. Workers: `open_job_params`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from pydantic_core import to_json

from execution_api.webhook_secrets import SecretSealer, WebhookSecretCipher

SEALED = "[sealed]"
# Compared after lower-casing and dropping '_' and '-': apiKey, api_key, API-KEY, apiToken, token, ...
CREDENTIAL_KEYS = frozenset({"apikey", "apitoken", "token", "secret", "password", "authorization"})
# The words to look for in folded text ("token" also finds "apitoken"); `in` is several times faster
# than a regex alternation here.
_CREDENTIAL_WORDS = tuple(sorted(w for w in CREDENTIAL_KEYS if not any(o != w and o in w for o in CREDENTIAL_KEYS)))
MAX_SEALED_BYTES = 4096  # KMS Encrypt's plaintext limit: one call per execution holds every credential


def is_credential_key(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "") in CREDENTIAL_KEYS


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
        from execution_api import exact_json  # numbers inside a credential keep their digits too

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
    """False only when no key inside the params (given as JSON text) can be a credential key: the walk is
    skipped for most jobs.

    A credential key is a credential word spelt in letters with '_' and '-' between them, all of which
    JSON writes as they are; so, folded the same way, the params' JSON text holds the word wherever the
    key holds it. str.lower folds the text as is_credential_key folds a key, character by character."""
    folded = params_json.decode("utf-8").lower().replace("_", "").replace("-", "")
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


def open_credentials(cipher: WebhookSecretCipher, execution_id: str, ciphertext: bytes) -> OpenedCredentials:
    """For the worker only (its IAM alone may decrypt): fails unless sealed for this execution."""
    from execution_api import exact_json

    opened = exact_json.loads(cipher.unseal(execution_id, ciphertext).get_secret_value())
    return OpenedCredentials(opened["values"], opened["providerApiKeys"])


def open_job_params(
    params: dict[str, Any], sealed_params: Mapping[str, int], credentials: OpenedCredentials | None
) -> dict[str, Any]:
    """A job's params as the client sent them, credentials back in place."""
    if not sealed_params:
        return params
    if credentials is None:
        raise ValueError("the job has sealed params but the execution has no sealed credentials")
    restored = copy.deepcopy(params)
    for pointer, index in sealed_params.items():
        path = _path(pointer)
        parent = _walk(restored, path[:-1])
        parent[int(path[-1]) if isinstance(parent, list) else path[-1]] = credentials.values[index]
    return restored


def _credential_places(value: Any) -> Iterator[tuple[str | int, ...]]:
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, dict):
            for key, item in current.items():
                if is_credential_key(key):
                    yield (*path, key)  # the whole value is sealed; nothing inside it is looked at
                elif isinstance(item, dict | list):
                    stack.append(((*path, key), item))
        elif isinstance(current, list):
            stack.extend(((*path, i), item) for i, item in enumerate(current) if isinstance(item, dict | list))


def _walk(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _path(pointer: str) -> tuple[str, ...]:
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:])
