"""The API path's settings are read without pydantic (execution_api.core.environment): they accept and refuse
what the pydantic settings of the same variables do, and say so in the same words, naming the variable and
never its value."""

from __future__ import annotations

import pytest

from execution_api.api.cors import CorsSettings
from execution_api.api.status import StatusSettings
from execution_api.core.environment import SettingsError
from execution_api.core.settings import OutputSettings
from execution_api.storage.outputs import OutputLinkSettings


def outcome(kind: type[OutputLinkSettings] | type[OutputSettings]) -> str:
    """The settings read from the environment as text, or the error's message without the class name."""
    try:
        settings = kind.from_environment()
    except SettingsError as error:
        return str(error).replace(kind.__name__, "<settings>")
    return f"{settings.outputs_bucket_name} {settings.output_url_expiry_seconds}"


@pytest.mark.parametrize(
    ("bucket", "expiry"),
    [
        ("outputs", None),
        ("outputs", "120"),
        ("outputs", "604800"),
        ("outputs", "119"),
        ("outputs", "604801"),
        ("outputs", "-5"),
        ("outputs", "an hour"),
        ("outputs", ""),
        ("ab", "3600"),
        (None, "3600"),
        # pydantic's lax whole numbers: a zero fraction, spaces, signs, underscores; not other digits
        *(
            ("outputs", value)
            for value in (
                "3600.0",
                " 3600 ",
                "3600.00",
                "+3600",
                "3_600",
                "3600.5",
                "1e3",
                "0x10",
                "\u0663\u0666\u0660\u0660",
                " 3600.0 ",
                "",
            )
        ),
    ],
)
def test_presigning_settings_read_and_refuse_the_variables_as_the_workers_pydantic_settings_do(
    monkeypatch: pytest.MonkeyPatch, bucket: str | None, expiry: str | None
) -> None:
    # Given the outputs variables set (or not) to these values
    for name, value in (("OUTPUTS_BUCKET_NAME", bucket), ("OUTPUT_URL_EXPIRY_SECONDS", expiry)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    # When both settings are read, Then they agree, error messages included
    assert outcome(OutputLinkSettings) == outcome(OutputSettings)


def test_the_status_settings_name_each_missing_or_short_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTIONS_TABLE_NAME", "executions")
    monkeypatch.setenv("OUTPUTS_BUCKET_NAME", "outputs")
    assert StatusSettings.from_environment() == StatusSettings("executions", "outputs")
    monkeypatch.setenv("OUTPUTS_BUCKET_NAME", "ab")
    with pytest.raises(SettingsError, match="StatusSettings: OUTPUTS_BUCKET_NAME: String should have at least 3"):
        StatusSettings.from_environment()
    monkeypatch.setenv("EXECUTIONS_TABLE_NAME", "")
    with pytest.raises(SettingsError, match="StatusSettings: EXECUTIONS_TABLE_NAME is empty"):
        StatusSettings.from_environment()


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        (None, frozenset()),
        ("", frozenset()),
        ("https://a.example", {"https://a.example"}),
        (" https://a.example , ,https://b.example,", {"https://a.example", "https://b.example"}),
    ],
)
def test_cors_origins_are_the_comma_separated_non_empty_parts(
    monkeypatch: pytest.MonkeyPatch, value: str | None, origins: set[str]
) -> None:
    if value is None:
        monkeypatch.delenv("CORS_ALLOW_ORIGINS", raising=False)
    else:
        monkeypatch.setenv("CORS_ALLOW_ORIGINS", value)
    assert CorsSettings.from_environment().cors_allow_origins == origins
