"""A job's params are serialized once, with pydantic-core, and stored from that text: `text_of` must be
exactly what `exact_json.dumps` writes for every value `exact_json.loads` can give."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from execution_api.core import exact_json

# What loads gives: no floats (fractions and exponents are Decimals), ints of any size, any text.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**60),
    st.text(),
    st.text(alphabet='0123456789.E+-"\\\n\x00\u2028é😀', max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),  # strings that look like Decimals
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=25
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_text_of_is_dumps(value: Any) -> None:
    assert exact_json.text_of(value, to_json(value)) == exact_json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(values)
def test_text_of_a_parsed_body_is_dumps(value: Any) -> None:
    parsed = exact_json.loads(exact_json.dumps(value))
    assert exact_json.text_of(parsed, to_json(parsed)) == exact_json.dumps(parsed)


def test_decimals_keep_their_digits_and_strings_stay_strings() -> None:
    parsed = exact_json.loads('{"fps":23.976,"tiny":1E-400,"zero":0e0,"big":1234567890123456789012345678901234567890}')
    assert exact_json.text_of(parsed, to_json(parsed)) == (
        '{"fps":23.976,"tiny":1E-400,"zero":0,"big":1234567890123456789012345678901234567890}'
    )
    assert exact_json.text_of({"fps": "23.976"}, to_json({"fps": "23.976"})) == '{"fps":"23.976"}'
    assert exact_json.text_of({"fps": Decimal("23.976")}, to_json({"fps": Decimal("23.976")})) == '{"fps":23.976}'


def test_plain_params_take_the_shared_text_as_it_is() -> None:
    params = {"prompt": "a cat\n", "durationSeconds": 5, "tags": ["é", None, True]}
    data = to_json(params)
    assert exact_json.text_of(params, data) == data.decode("utf-8")
    assert data.decode("utf-8") == json.dumps(params, separators=(",", ":"), ensure_ascii=False)
