"""A function's settings read from its environment once per container, and the error that names what is
missing. Standard library only: the authorizer checks its one variable here without importing pydantic
(about 30 % of that function's former cold import); the other functions' settings are pydantic
models (execution_api.settings) read the same way."""

from __future__ import annotations

import os
from typing import Protocol, Self, TypeVar

from execution_api.container import per_container


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
