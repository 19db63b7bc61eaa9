"""exact_json.loads refuses a body nested deeper than MAX_NESTING_DEPTH. For a text that parsed, the depth is
read from the text's brackets outside strings (`_nests_deeper`), not by walking the value: the properties
here hold it to the depth of the parsed value, whatever the strings hold and however the text is written."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution_api.core import exact_json
from execution_api.core.errors import MalformedRequest, PlanRejected
from execution_api.core.exact_json import MAX_NESTING_DEPTH
from execution_api.intake.rules import PlanLimits
from execution_api.intake.validation import read_submission

TOO_DEEP = f"the body is nested more than {MAX_NESTING_DEPTH} levels deep"
LONE_SURROGATE = "the body holds a lone surrogate, which is not a character"


def depth(value: Any) -> int:
    """Arrays and objects inside each other, the value itself level 1: the walk the text check replaced."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def nested(levels: int, inner: Any = 1, key: str = "v") -> Any:
    for level in range(levels):
        inner = [inner] if level % 2 else {key: inner}
    return inner


# Strings that hold what the text check must see through: brackets, quotes, backslashes, escapes, lone surrogates.
tricky = st.text(alphabet=st.sampled_from('[]{}"\\/ ,:u0\n\t\x00é😀\ud800\udfff'), max_size=8)
scalars = st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False, allow_infinity=False) | tricky
shallow = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3), max_leaves=12
)


@st.composite
def values(draw: st.DrawFn) -> Any:
    """A shallow value inside a chain of 0 to 70 arrays and objects, some holding other values beside it."""
    value, sibling, key = draw(shallow), draw(shallow), draw(tricky)
    levels = draw(st.integers(0, MAX_NESTING_DEPTH + 6) | st.integers(MAX_NESTING_DEPTH - 2, MAX_NESTING_DEPTH + 1))
    for kind in draw(st.lists(st.sampled_from(["[]", "[,]", "{}", "{,}"]), min_size=levels, max_size=levels)):
        if kind.startswith("["):
            value = [sibling, value] if kind == "[,]" else [value]
        else:
            value = {key: value, key + "'": sibling} if kind == "{,}" else {key: value}
    return value


@st.composite
def texts(draw: st.DrawFn, value: Any) -> str:
    """`value` as JSON, written one of the ways a client may write it."""
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2])),
        separators=draw(st.sampled_from([None, (",", ":"), (" , ", " : ")])),
        default=str,  # Decimals as strings: a number or a string, the brackets are the same
    )
    if draw(st.booleans()):  # escapes as \u: an escaped backslash, then an escaped quote
        text = text.replace("\\\\", "\\u005c").replace('\\"', "\\u0022")
    if draw(st.booleans()):  # '/' is only ever inside a string, where \/ is the same character
        text = text.replace("/", "\\/")
    return text


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_property_the_text_nests_as_deep_as_its_value(data: st.DataObject) -> None:
    value = data.draw(values())
    text = data.draw(texts(value))
    levels = depth(json.loads(text, parse_float=Decimal))
    # deeper than one level less, not deeper than its own depth: the text check finds the depth exactly
    assert exact_json._nests_deeper(text, levels - 1)
    assert not exact_json._nests_deeper(text, levels)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_loads_refuses_exactly_the_values_nested_too_deep(data: st.DataObject) -> None:
    value = data.draw(values())
    text = data.draw(texts(value))
    outcome = answer(text)
    if depth(value) > MAX_NESTING_DEPTH:
        assert outcome == TOO_DEEP
    else:  # the value, or the one refusal that comes after the depth's
        assert outcome in (json.loads(text, parse_float=Decimal), LONE_SURROGATE)


def answer(text: str) -> Any:
    try:
        return exact_json.loads(text)
    except exact_json.NotJson as error:
        return str(error)


@pytest.mark.parametrize("inner", [1, [], {}, "]]]]", "[[[[", '\\"[', "\\\\"], ids=repr)
def test_the_limit_is_exact_whatever_the_innermost_value(inner: Any) -> None:
    levels = MAX_NESTING_DEPTH - depth(inner)
    fits, over = nested(levels, inner), nested(levels + 1, inner)
    assert depth(fits) == MAX_NESTING_DEPTH
    assert exact_json.loads(json.dumps(fits)) == fits
    with pytest.raises(exact_json.NotJson, match=f"^{TOO_DEEP}$"):
        exact_json.loads(json.dumps(over))


def test_brackets_in_strings_and_keys_count_for_nothing() -> None:
    # Given 63 levels of objects whose keys and values are full of brackets and escaped quotes
    key = '[{"\\'
    value = nested(MAX_NESTING_DEPTH - 1, "]}" * 40, key)
    # Then it parses (one more level would be refused)
    assert exact_json.loads(json.dumps(value)) == value
    assert exact_json.loads(json.dumps([value])) == [value]
    with pytest.raises(exact_json.NotJson, match=f"^{TOO_DEEP}$"):
        exact_json.loads(json.dumps([[value]]))


def test_many_shallow_containers_are_not_deep() -> None:
    assert exact_json.loads(json.dumps([[[]]] * 1000 + [{"a": {}}] * 1000))[0] == [[]]


def test_a_body_too_deep_and_over_max_jobs_is_refused_as_too_deep() -> None:
    # Given more jobs than the limit, one of them nested deeper than MAX_NESTING_DEPTH
    jobs: list[Any] = [{"id": f"j{i}", "operation": "x"} for i in range(4)]
    jobs[3]["params"] = nested(MAX_NESTING_DEPTH)
    body = json.dumps({"executionPlan": {"jobs": jobs}})
    # Then the depth wins: a 400, not the 422 with too_many_jobs
    with pytest.raises(MalformedRequest) as refused:
        read_submission(body, False, PlanLimits(max_jobs=3))
    assert (refused.value.code, refused.value.detail) == ("malformed_json", TOO_DEEP)
    # And at exactly the limit (params at the fifth level), the count's 422
    jobs[3]["params"] = nested(MAX_NESTING_DEPTH - 4)
    with pytest.raises(PlanRejected) as rejected:
        read_submission(json.dumps({"executionPlan": {"jobs": jobs}}), False, PlanLimits(max_jobs=3))
    assert [v.code for v in rejected.value.violations] == ["too_many_jobs"]
