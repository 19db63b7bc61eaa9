"""Entity tags and If-None-Match (RFC 9110 sections 8.8.3 and 13.1.2), for the status poll."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

# An entity tag in a header field: optional weakness indicator, then a quoted opaque tag (which may
# hold commas, so the field is not simply split on them).
_ENTITY_TAG = re.compile(r'\s*(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


def strong_etag(body: bytes) -> str:
    """A strong validator: a hash of the exact bytes of the representation, so equal bytes, equal tag."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def windowed_etag(stored: bytes, window: int) -> str:
    """A weak validator of an answer holding presigned URLs: its bytes differ with each signing, but it is
    equivalent for as long as the stored state and the signing window stay the same (execution_api.storage.outputs)."""
    digest = hashlib.blake2b(stored, digest_size=16, person=b"window").hexdigest()
    return f'W/"{digest}-{window}"'


def none_match(field_values: Iterable[str], etag: str) -> bool:
    """Whether If-None-Match (every field line, as sent) matches `etag`: `*` matches any current
    representation; otherwise any listed tag equal to it under the weak comparison RFC 9110 prescribes
    for If-None-Match (W/"x" matches "x"). A malformed field matches nothing: the full answer is sent."""
    opaque = etag.removeprefix("W/")[1:-1]
    for value in field_values:
        value = value.strip()
        if value == "*":
            return True
        position = 0
        while position < len(value):
            found = _ENTITY_TAG.match(value, position)
            if found is None:
                break
            if found[1] == opaque:
                return True
            position = found.end()
    return False
