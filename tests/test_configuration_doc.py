"""docs/configuration.md is generated from template.yaml and the Makefile, and is current."""

from __future__ import annotations

from execution_api.core import limits
from local.template import ROOT, Template
from tools import configuration_doc


def test_the_committed_page_is_what_the_generator_writes() -> None:
    expected = configuration_doc.render(Template(), (ROOT / "Makefile").read_text())
    assert configuration_doc.OUTPUT.read_text() == expected, "docs/configuration.md is stale: run `make docs`"


def test_every_declared_variable_has_a_meaning() -> None:
    declared = {name for function in Template().functions() for name in function.environment}
    assert declared <= set(configuration_doc.MEANINGS), "add a line to MEANINGS in tools/configuration_doc.py"


def test_every_fixed_limit_has_a_meaning() -> None:
    declared = {name for function in Template().functions() for name in function.environment}
    fixed = {name for name in vars(limits) if name.isupper() and name not in declared}
    assert fixed == set(configuration_doc.FIXED_LIMITS), "add a line to FIXED_LIMITS in tools/configuration_doc.py"


def test_make_run_variables_are_the_ones_the_makefile_and_server_read() -> None:
    server = "".join((ROOT / "local" / name).read_text() for name in ("server.py", "backends.py"))
    for name in configuration_doc.MAKE_RUN:
        assert f'"{name}"' in server, name


def test_a_parameters_allowed_values_are_described_by_the_values_not_another_rows_meaning() -> None:
    # Given the page as generated from the template
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in configuration_doc.render(Template(), (ROOT / "Makefile").read_text()).splitlines()
        if line.startswith("| `")
    }
    # Then JobMaxAttempts' row speaks of attempts, 1 to 10, and nothing of log retention
    assert "| 1 to 10 |" in rows["JobMaxAttempts"]
    assert "retention" not in rows["JobMaxAttempts"].lower()
    assert "Attempts per job" in rows["JobMaxAttempts"]
    # And a list that is not a range says how many values there are
    assert "one of 22 values, 1 ... 3653" in rows["LogRetentionDays"]
