"""Provider error texts (execution_api.providers.transport): never the key in play nor anything credential-like,
whatever the provider put in its message; Retry-After read in both of its forms."""

from __future__ import annotations

import string
from email.utils import formatdate

from hypothesis import given
from hypothesis import strategies as st

from execution_api.providers.transport import MAX_ERROR_CHARS, Reply, _retry_after, provider_message, scrub

KEYS = st.text(alphabet=string.ascii_letters + string.digits + "_-:", min_size=12, max_size=80)


@given(key=KEYS, before=st.text(max_size=200), after=st.text(max_size=200))
def test_the_key_never_survives_scrubbing(key: str, before: str, after: str) -> None:
    scrubbed = scrub(f"{before}{key}{after}", key)
    assert key not in scrubbed
    assert len(scrubbed) <= MAX_ERROR_CHARS


def test_credential_like_words_are_removed_and_the_sentence_kept() -> None:
    message = "Invalid input: duration must be <= 10 (Authorization: Bearer r8_AbC123 xi-api-key: sk_abc123)"
    assert scrub(message) == "Invalid input: duration must be <= 10 (Authorization: [redacted] [redacted]"


def test_the_documented_error_shapes_give_their_message() -> None:
    assert provider_message(Reply(422, {}, b'{"detail": "input.prompt is required"}')) == "input.prompt is required"
    eleven = b'{"detail": {"status": "quota_exceeded", "message": "You exceeded your quota"}}'
    assert provider_message(Reply(401, {}, eleven)) == "You exceeded your quota"
    fal = b'{"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}'
    assert provider_message(Reply(422, {}, fal)) == "field required"
    assert provider_message(Reply(500, {}, b"<html>oops</html>")) == "<html>oops</html>"


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert _retry_after("7") == 7.0
    assert _retry_after(None) == 5.0
    assert _retry_after("soon") == 5.0
    import time

    assert 55 <= _retry_after(formatdate(time.time() + 60, usegmt=True)) <= 60
