"""How a run's end is worded: the execution's result, and its error (root causes first)."""

from __future__ import annotations

from execution_api.engine.outcomes import execution_error, execution_outcome, execution_result
from execution_api.engine.params import output_url
from tests.unit.test_engine_scheduler import item


def test_the_execution_result_is_the_last_leaf_jobs_first_output() -> None:
    url = "https://o.invalid/x.mp4"
    jobs = [
        item("a", 0, [], status="completed", result={"outputs": [{"url": "https://o.invalid/a.mp4"}]}),
        item("x", 1, ["a"], status="completed", result={"outputs": [{"url": url}, {"url": "second"}]}),
    ]
    assert execution_result(jobs) == {"url": url, "status": "completed"}
    assert execution_outcome(jobs) == ("completed", {"url": url, "status": "completed"}, None)
    assert execution_result([]) is None
    assert execution_outcome([]) == ("completed", None, None)  # an empty plan completes with no result
    assert output_url({"outputs": []}) is None


def test_the_execution_error_names_root_causes_first() -> None:
    failed = [
        item("b", 1, ["a"], status="failed", error="Dependency job failed: a"),
        item("a", 0, [], status="failed", error="provider refused"),
    ]
    assert execution_error(failed) == "job a failed: provider refused (and 1 more job not completed)"
    # One job short of completion fails the execution with the error, never a result
    status, result, error = execution_outcome([item("c", 2, [], status="completed"), *failed])
    assert (status, result, error) == ("failed", None, execution_error(failed))
    # A job without an error (cancelled) is named by its status
    assert execution_error([item("d", 0, [], status="cancelled")]) == "job d failed: cancelled"
