"""A function's settings read from its environment once per container, and the error that names what is
missing. Standard library only: the authorizer and the status function (api_keys.AuthorizerSettings,
status.StatusSettings, cors.CorsSettings, outputs.OutputLinkSettings) check their variables here without
importing pydantic, which with its models was about a third of the status function's cold import
(docs/benchmarks.md); the other functions' settings are pydantic models (execution_api.core.settings) read the
same way, and these helpers word their errors as those do."""

from __future__ import annotations

import os
import re
from typing import Protocol, Self, TypeVar

from execution_api.core.container import per_container


class SettingsError(RuntimeError):
    """The environment lacks a variable a function needs, or holds a malformed one."""


class Settings(Protocol):
    @classmethod
    def from_environment(cls) -> Self: ...


Kind = TypeVar("Kind", bound=Settings)


@per_container
def load_settings(kind: type[Kind]) -> Kind:
    """`kind` read from the environment, once per container; SettingsError names each bad variable."""
    return kind.from_environment()


def required_variable(settings: str, name: str) -> str:
    """A variable that must be set and not empty; the error names it and `settings`, never a value."""
    value = os.environ.get(name)
    if not value:
        problem = "is not set" if value is None else "is empty"
        raise SettingsError(f"the environment does not configure {settings}: {name} {problem}")
    return value


def text_variable(settings: str, name: str, *, min_length: int = 1) -> str:
    """A required variable of at least `min_length` characters (pydantic's wording when shorter)."""
    value = required_variable(settings, name)
    if len(value) < min_length:
        problem = f"String should have at least {min_length} characters"
        raise SettingsError(f"the environment does not configure {settings}: {name}: {problem}")
    return value


_WHOLE_NUMBER = re.compile(r"([+-]?[0-9][0-9_]*)(?:\.0+)?", re.ASCII)


def int_variable(settings: str, name: str, *, default: int, ge: int, le: int) -> int:
    """An optional whole number within [ge, le]; `default` when unset (an empty value is malformed)."""
    value = os.environ.get(name)
    if value is None:
        return default
    # pydantic's lax whole number: ASCII digits, a sign, underscores as int() takes them, a zero fraction.
    whole = _WHOLE_NUMBER.fullmatch(value.strip())
    number = _int_or_none(whole.group(1)) if whole else None
    if number is None:
        problem = "Input should be a valid integer, unable to parse string as an integer"
    elif ge <= number <= le:
        return number
    else:
        bound = f"greater than or equal to {ge}" if number < ge else f"less than or equal to {le}"
        problem = f"Input should be {bound}"
    raise SettingsError(f"the environment does not configure {settings}: {name}: {problem}")


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:  # misplaced underscores: "3__600", "3600_"
        return None


def names_variable(name: str) -> frozenset[str]:
    """A comma-separated variable as the set of its non-empty, stripped parts (empty when unset)."""
    return frozenset(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())
