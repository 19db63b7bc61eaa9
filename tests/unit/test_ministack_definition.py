"""ministack ignores a Map's MaxConcurrencyPath (it starts every item at once, a thread each): the state
machine is created on it with the value as MaxConcurrency instead (local/ministack.py)."""

from __future__ import annotations

import json
import re

from local.ministack import with_static_map_concurrency
from local.template import ROOT


def test_given_a_map_with_a_concurrency_path_when_adapted_then_it_has_that_limit_and_nothing_else_changes() -> None:
    # Given a Map (nested in a Parallel branch) that reads its limit from the run's input
    inner = {"Type": "Map", "ItemsPath": "$.ids", "MaxConcurrencyPath": "$.config.maxParallelJobs", "End": True}
    branch = {"StartAt": "Each", "States": {"Each": inner}}
    definition = {"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "Branches": [branch], "End": True}}}
    # When adapted for ministack
    adapted = json.loads(with_static_map_concurrency(json.dumps(definition), 10))
    # Then the path became the limit, and every other field is as it was
    each = adapted["States"]["Both"]["Branches"][0]["States"]["Each"]
    assert each == {"Type": "Map", "ItemsPath": "$.ids", "MaxConcurrency": 10, "End": True}
    assert {**adapted, "States": None} == {**definition, "States": None}


def test_given_the_engine_definition_when_adapted_then_its_one_map_gets_the_limit() -> None:
    # Given the engine's definition (numbers substituted as CloudFormation would)
    text = (ROOT / "statemachine" / "execution.asl.json").read_text()
    text = re.sub(r"(?<!\")\$\{\w+\}(?!\")", "1", text)  # the unquoted (number) placeholders
    # When adapted
    adapted = with_static_map_concurrency(text, 7)
    # Then no MaxConcurrencyPath is left, and the Map runs at most 7 iterations at once
    assert "MaxConcurrencyPath" not in adapted
    assert json.loads(adapted)["States"]["RunJobs"]["MaxConcurrency"] == 7


def test_given_no_map_when_adapted_then_the_definition_is_the_same() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "$.y"}}}}
    assert json.loads(with_static_map_concurrency(json.dumps(definition), 3)) == definition
