"""The scheduler's order: every job after its dependencies, ties in plan order."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from execution_api.engine.scheduler import topological_order
from execution_api.models.records import Job


def item(job_id: str, position: int, depends_on: list[str], **extra: Any) -> Job:
    """A job record as the engine reads it, ended or not."""
    return Job(
        id=job_id, position=position, operation="merge", params={}, depends_on=tuple(depends_on), output=None, **extra
    )


@st.composite
def dags(draw: st.DrawFn) -> list[Job]:
    size = draw(st.integers(min_value=0, max_value=40))
    jobs = []
    for index in range(size):
        earlier = draw(st.lists(st.integers(min_value=0, max_value=max(index - 1, 0)), max_size=4, unique=True))
        jobs.append((f"j{index}", [f"j{e}" for e in earlier if e < index]))
    shuffled = draw(st.permutations(jobs))
    return [item(job_id, position, deps) for position, (job_id, deps) in enumerate(shuffled)]


@given(dags())
def test_topological_order_puts_every_job_after_its_dependencies(jobs: list[Job]) -> None:
    order = topological_order(jobs)
    seen: set[str] = set()
    by_id = {j.id: j for j in jobs}
    assert sorted(order) == sorted(by_id)
    for job_id in order:
        assert set(by_id[job_id].depends_on) <= seen
        seen.add(job_id)


def test_ties_keep_plan_order_and_base_dependencies_do_not_count() -> None:
    jobs = [
        item("b", 0, ["base1"], base_depends_on=("base1",)),
        item("a", 1, []),
        item("c", 2, ["a"]),
    ]
    assert topological_order(jobs) == ["b", "a", "c"]
