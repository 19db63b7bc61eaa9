"""JSON for request bodies: one strict parse that keeps every number exactly, and its inverse.

Fractions and exponents become `decimal.Decimal` (1e-400 stays 1E-400, 40 digits stay 40 digits),
integers stay Python ints; `dumps` writes them back digit for digit. The parse refuses what is not
interoperable JSON (NaN, Infinity, lone surrogates) and bodies nested deeper than MAX_NESTING_DEPTH,
so every later step (checks, hashing, storage) sees the same bounded value whatever the headers.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from itertools import accumulate
from typing import Any

MAX_NESTING_DEPTH = 64  # arrays and objects inside each other, counting the body itself

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: no per-character alternation
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")
# dumps() lets json write each Decimal as a marked string, then unwraps it: the marker holds a random
# token per process, so no string a client sends can be taken for a number.
_MARK = "\x00" + secrets.token_hex(8)
_MARKED = re.compile(r'"\\u0000' + _MARK[1:] + r'([^"]*)"')


_TOO_DEEP = f"the body is nested more than {MAX_NESTING_DEPTH} levels deep"


class NotJson(ValueError):
    """The text is not a JSON value this service accepts; the message says why, for a 400."""


def loads(text: str) -> Any:
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError as error:  # deeper than the interpreter allows: far deeper than the limit
        raise _refusal(text, "the body is nested too deeply") from error
    except ValueError as error:  # JSONDecodeError, or an integer of more than 4300 digits
        raise _refusal(text, "the body is not valid JSON") from error
    if _nests_deeper(text, MAX_NESTING_DEPTH):
        raise NotJson(_TOO_DEEP)
    if "\\u" in text:  # only an escape can carry a lone surrogate: check those bodies
        try:
            json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError as error:
            raise NotJson("the body holds a lone surrogate, which is not a character") from error
    return value


def _refusal(text: str, reason: str) -> NotJson:
    """Why a text that does not parse is refused: too deep wins, as it would had depth been checked first."""
    return NotJson(_TOO_DEEP if _too_deep(text) else reason)


def dumps(value: Any) -> str:
    """Compact JSON with every Decimal written exactly as parsed."""
    text = _ENCODER.encode(value)
    return _MARKED.sub(r"\1", text) if "\\u0000" in text else text


def text_of(value: Any, data: bytes) -> str:
    """`dumps(value)` for a value from `loads`, given `data`, its pydantic-core `to_json`: the same text,
    unless a Decimal is inside (to_json writes it as a string), and then `dumps` writes it."""
    return data.decode("utf-8") if _QUOTED_NUMBER.search(data) is None else dumps(value)


# A string that may be a Decimal as to_json writes it: str(Decimal) is one of these, quoted.
_QUOTED_NUMBER = re.compile(rb'"-?[0-9]+(?:\.[0-9]+)?(?:E[+-][0-9]+)?"')


def _marked_number(value: Any) -> str:
    if isinstance(value, Decimal):
        return _MARK + str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# One encoder for every call: json.dumps with options builds a new one each time (per job, per request).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_marked_number)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(text: str) -> bool:
    """Whether brackets nest deeper than the limit, outside strings; C-speed string passes only. Used
    for texts that do not parse (the verdict on a body that does is `_nests_deeper`, the same)."""
    if text.count("[") + text.count("{") <= MAX_NESTING_DEPTH:
        return False  # too few brackets to nest that deep: the common case costs two counts
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(MAX_NESTING_DEPTH):
        inner_removed = _INNERMOST_PAIR.sub("", brackets)  # exactly one level per pass
        if inner_removed == brackets:
            return False  # mismatched brackets: the parser will say the JSON is broken
        brackets = inner_removed
        if not brackets:
            return False
    return True


# A parsed text's skeleton: its quotes, and its brackets as the signed bytes +1 (opening) and -1 (closing).
_TO_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
_NOT_IN_SKELETON = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_INNERMOST = b"\x01\xff"  # an empty array or object, or one that holds no array or object


def _nests_deeper(text: str, limit: int) -> bool:
    """Whether the arrays and objects of a text that parsed nest more than `limit` levels (the text is level 1).
    It parsed, so its brackets outside strings nest exactly as its containers do: C-speed passes keep those,
    and the running sum of their steps is the depth at each (a few times cheaper than walking the value)."""
    if "\\" in text:  # drop escaped backslashes, then escaped quotes: every quote left opens or closes a string
        text = text.replace("\\\\", "").replace('\\"', "")
    quotes_and_brackets = text.encode("utf-8", "surrogatepass").translate(_TO_STEPS, _NOT_IN_SKELETON)
    if quotes_and_brackets.count(1) <= limit:
        return False  # too few opening brackets, in strings or not, to nest that deep: most bodies stop here
    skeleton = quotes_and_brackets.replace(b'""', b"")  # every string, if no string holds a bracket
    if b'"' in skeleton:  # one does: keep what lies between the strings (quotes alternate, opening first)
        skeleton = b"".join(quotes_and_brackets.split(b'"')[::2])
    # Without its innermost containers the skeleton nests one level less, and is a third as long to sum.
    outer = skeleton.replace(_INNERMOST, b"")
    depth = 1 + max(accumulate(memoryview(outer).cast("b")), default=0) if skeleton else 0
    return depth > limit
