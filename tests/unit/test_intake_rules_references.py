"""check_plan finds references in params from their JSON text and walks params only when one may be
undeclared: whatever the params, it reports exactly what the walk over every string reports."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from execution_api.intake.rules import PlanLimits, _reference_problems, check_plan
from execution_api.models.plan import ExecutionPlan, PlannedJob

IDS = ["a", "b", "c", 'q"z', "w\\x", "é", "new\nline", ""]
reference = st.builds(
    lambda word, job: f"_{word}JobDependency:{job}", st.sampled_from(["video", "x1", "a"]), st.sampled_from(IDS)
)
text = st.one_of(
    reference,
    st.builds(
        lambda p, r, s: p + r + s,
        st.sampled_from(["", "x", '"', "\\", 'x"']),
        reference,
        st.sampled_from(["", '"', "y"]),
    ),
    st.text(alphabet='ab"\\_:JobDependency', max_size=12),
)
json_values = st.recursive(
    st.none() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(text, json_values, min_size=1, max_size=4),
    st.lists(st.sampled_from(["a", "b", 'q"z']), unique=True),
)
def test_property_the_text_pre_check_reports_what_the_walk_reports(
    params: dict[str, Any], depends_on: list[str]
) -> None:
    job = PlannedJob(len(depends_on), "me", "generate", params, tuple(depends_on))
    others = [PlannedJob(i, dep, "generate", {}, ()) for i, dep in enumerate(depends_on)]
    plan = ExecutionPlan(jobs=(*others, job))
    jobs_by_id = {j.id: j for j in plan.jobs}
    expected = list(_reference_problems(job, jobs_by_id))
    found = [v for v in check_plan(plan, PlanLimits()) if v.code == "undeclared_dependency_reference"]
    assert found == expected
