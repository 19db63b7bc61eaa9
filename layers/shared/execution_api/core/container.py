"""What a Lambda container builds once (settings, boto3 clients, services), and one way to forget it all.

`@per_container` caches a function's result (one per argument, for a function that takes one) for the
life of the container; `reset_caches()` forgets every such result, for the local runtime and tests that
change the environment between calls.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

Builder = TypeVar("Builder", bound=Callable[..., Any])
_CACHED: list[Any] = []


def per_container(build: Builder) -> Builder:
    cached = lru_cache(maxsize=None)(build)
    _CACHED.append(cached)
    return cached  # type: ignore[return-value]


def reset_caches() -> None:
    for cached in _CACHED:
        cached.cache_clear()
