"""The credential scan's shortcut: a job's params skip the walk only when their JSON text, folded as keys
are, holds no credential word; the walk alone decides which values are sealed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from execution_api.core.credentials import (
    SEALED,
    CredentialVault,
    _credential_places,
    is_credential_key,
    might_hold_credentials,
    take_credentials,
)

# Keys near the credential words: every case and '_'/'-' spelling, the Kelvin sign (lower-cases to 'k'),
# words cut short or run together, and ordinary names.
_WORDS = ["apiKey", "api_key", "API-KEY", "apiToken", "token", "secret", "password", "authorization"]


@st.composite
def credential_like(draw: st.DrawFn) -> str:
    """A credential word in any case, with '_' or '-' anywhere in it."""
    word = draw(st.sampled_from(_WORDS)).lower()
    cases = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    separators = draw(st.lists(st.sampled_from(["", "", "_", "-"]), min_size=len(word), max_size=len(word)))
    return "".join((c.upper() if up else c) + s for c, up, s in zip(word, cases, separators, strict=True))


keys = st.one_of(
    credential_like(),
    st.sampled_from(["api\u212aey", "tok", "secrets", "passwd", "prompt", "model", "Authorization", "x"]),
    st.text(max_size=12),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.decimals(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=20
)
params_strategy = st.dictionaries(keys, values, max_size=6)


@settings(max_examples=400, deadline=None)
@given(params_strategy)
def test_params_with_a_credential_key_anywhere_are_never_skipped(params: dict[str, Any]) -> None:
    if list(_credential_places(params)):
        assert might_hold_credentials(to_json(params))


@settings(max_examples=200, deadline=None)
@given(params_strategy)
def test_taking_credentials_is_the_walk_whether_or_not_it_is_skipped(params: dict[str, Any]) -> None:
    redacted, sealed = take_credentials(params, CredentialVault())
    places = list(_credential_places(params))
    assert len(sealed) == len(places)
    if not places:
        assert redacted is params


def test_a_credential_key_nested_in_a_list_is_found_in_any_spelling() -> None:
    for key in ["apiKey", "API_KEY", "api-key", "a_p_i_k_e_y", "api\u212aey", "Authorization", "pass-word"]:
        assert is_credential_key(key)
        params = {"steps": [{"model": "m", "options": {key: "sk-live-1"}}]}
        assert might_hold_credentials(to_json(params))
        redacted, sealed = take_credentials(params, CredentialVault())
        assert redacted["steps"][0]["options"][key] == SEALED
        assert sealed == {f"/steps/0/options/{key}": 0}


def test_params_without_credential_words_are_skipped_and_kept_as_they_are() -> None:
    params = {"prompt": "a cat", "duration": Decimal("2.50"), "tokens": 3, "frames": [1, 2], "apiVersion": "v1"}
    assert not might_hold_credentials(to_json({k: v for k, v in params.items() if k != "tokens"}))
    assert might_hold_credentials(to_json(params))  # "tokens" holds the word: walked, and nothing is a credential
    redacted, sealed = take_credentials(params, CredentialVault())
    assert redacted is params
    assert sealed == {}


def test_a_credential_word_in_a_value_only_costs_the_walk() -> None:
    params = {"prompt": "draw a token and a secret door"}
    assert might_hold_credentials(to_json(params))
    assert take_credentials(params, CredentialVault()) == (params, {})
