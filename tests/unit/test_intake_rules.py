"""Plan-wide rules (docs/api.md, "The rules"): the graph, the roots, references in params, limits, webhook.

Each test reads Given / When / Then; every failing example asserts the exact code and JSON Pointer.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution_api.core.errors import Violation
from execution_api.intake.rules import (
    DEPENDENCY_REFERENCE,
    PlanLimits,
    check_plan,
    pointer,
)
from execution_api.intake.validation import plan_from_body
from execution_api.models.plan import ExecutionPlan, PlannedJob, WebhookTarget

LIMITS = PlanLimits()
JOBS = "/executionPlan/jobs"
ROOTS = "/executionPlan/rootJobIds"


# --- helpers -----------------------------------------------------------------------------------------------------


def jobs(
    *specs: tuple[str, list[str]] | tuple[str, list[str], dict[str, Any]], **fields: str
) -> tuple[PlannedJob, ...]:
    """Jobs in the given order, indexed by position: (id, dependsOn) or (id, dependsOn, params)."""
    built = []
    for index, spec in enumerate(specs):
        job_id, depends_on = spec[0], spec[1]
        params = spec[2] if len(spec) == 3 else {}
        built.append(
            PlannedJob(
                index=index, id=job_id, operation="generate", params=params, depends_on=tuple(depends_on), **fields
            )
        )
    return tuple(built)


def plan(*specs: Any, roots: tuple[str, ...] | None = None, webhook: WebhookTarget | None = None) -> ExecutionPlan:
    return ExecutionPlan(jobs=jobs(*specs), root_job_ids=roots, webhook=webhook)


def the_one(violations: list[Violation]) -> Violation:
    assert len(violations) == 1, violations
    return violations[0]


def where(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.code, v.pointer) for v in violations]


def cycle_in(message: str) -> list[str]:
    """The job ids of the cycle named in a dependency_cycle message: text between ': ' and ' (each'."""
    start = message.index(": ") + 2
    end = message.index(" (each", start)
    return message[start:end].split(" -> ")


def unescape(json_pointer: str) -> list[str]:
    """RFC 6901 section 4: split on '/', then '~1' -> '/' before '~0' -> '~'."""
    if json_pointer == "":
        return []
    assert json_pointer.startswith("/")
    return [token.replace("~1", "/").replace("~0", "~") for token in json_pointer[1:].split("/")]


# --- valid plans ---------------------------------------------------------------------------------------------------


def test_given_a_valid_plan_when_checked_then_no_violations() -> None:
    # Given the canonical example of docs/api.md, with explicit roots and an https webhook
    valid = plan(
        ("job1", [], {"prompt": "a cat"}),
        ("job2", ["job1"], {"video": "_videoJobDependency:job1"}),
        roots=("job1",),
        webhook=WebhookTarget("https://example.com/hooks/executions", None, "/options/webhookUrl"),
    )
    # When / Then
    assert check_plan(valid, LIMITS) == []


def test_given_the_sdk_example_when_checked_then_valid_and_roots_derived() -> None:
    # Given what the SDK really sends: the dependent job comes second, no rootJobIds
    sdk = ExecutionPlan(
        jobs=(
            PlannedJob(0, "job2", "generate", {"prompt": "Scene 1"}, (), operation_field="type"),
            PlannedJob(
                1,
                "job1",
                "merge",
                {"items": [{"url": "_videoJobDependency:job2", "type": "video"}]},
                ("job2",),
                operation_field="type",
            ),
        )
    )
    # When / Then
    assert check_plan(sdk, LIMITS) == []
    assert sdk.derived_root_job_ids() == ("job2",)


@pytest.mark.parametrize("roots", [(), None])
def test_given_an_empty_plan_when_checked_then_valid(roots: tuple[str, ...] | None) -> None:
    # Given {"jobs": [], "rootJobIds": []} (the original smoke test), or no rootJobIds at all
    empty = ExecutionPlan(jobs=(), root_job_ids=roots)
    # When / Then
    assert check_plan(empty, LIMITS) == []
    assert empty.derived_root_job_ids() == ()


def test_given_jobs_without_dependencies_when_deriving_roots_then_they_come_in_plan_order() -> None:
    # Given roots at positions 0, 2 and 3, named so that alphabetical order differs from plan order
    p = plan(("zeta", []), ("alpha", ["zeta"]), ("mid", []), ("beta", []), ("omega", ["mid", "beta"]))
    # When
    roots = p.derived_root_job_ids()
    # Then
    assert roots == ("zeta", "mid", "beta")
    assert check_plan(ExecutionPlan(jobs=p.jobs, root_job_ids=roots), LIMITS) == []


# --- ids and dependencies ------------------------------------------------------------------------------------------


def test_given_a_repeated_job_id_when_checked_then_the_later_job_id_is_pointed_at() -> None:
    # Given "a" at positions 0 and 2
    p = plan(("a", []), ("b", ["a"]), ("a", []))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("duplicate_job_id", f"{JOBS}/2/id")
    assert "job 0" in violation.message


@pytest.mark.parametrize("field", ["dependsOn", "dependencies"])
@pytest.mark.parametrize(
    ("specs", "code", "where_"),
    [
        ((("a", []), ("b", ["a", "a"])), "duplicate_dependency", "1/{field}/1"),
        ((("a", ["a"]),), "self_dependency", "0/{field}/0"),
        ((("a", []), ("b", ["a", "ghost"])), "unknown_dependency", "1/{field}/1"),
    ],
    ids=["duplicate", "self", "unknown"],
)
def test_given_a_bad_dependency_when_checked_then_its_entry_is_pointed_at(
    field: str, specs: tuple[tuple[str, list[str]], ...], code: str, where_: str
) -> None:
    # Given a plan whose jobs say dependsOn (canonical) or dependencies (the SDK alias)
    p = ExecutionPlan(jobs=jobs(*specs, depends_on_field=field))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then: the pointer names the field the client used, and the entry's position in it
    assert (violation.code, violation.pointer) == (code, f"{JOBS}/{where_.format(field=field)}")


def test_given_an_unknown_dependency_when_checked_then_the_message_names_it() -> None:
    # Given / When
    violation = the_one(check_plan(plan(("b", ["ghost"])), LIMITS))
    # Then
    assert violation.code == "unknown_dependency"
    assert "'ghost'" in violation.message


# --- cycles --------------------------------------------------------------------------------------------------------


def test_given_two_jobs_depending_on_each_other_when_checked_then_the_cycle_is_named() -> None:
    # Given a -> b -> a
    p = plan(("a", ["b"]), ("b", ["a"]))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then
    assert violation.code == "dependency_cycle"
    assert "a -> b -> a" in violation.message
    assert violation.pointer == f"{JOBS}/0/dependsOn/0"


def test_given_a_three_cycle_behind_a_root_when_checked_then_the_cycle_and_first_entry_are_named() -> None:
    # Given a root, then a depends on (root, c), c on b, b on a
    p = plan(("root", []), ("a", ["root", "c"]), ("b", ["a"]), ("c", ["b"]))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then: each job in the message depends on the next; the pointer is the first job's entry for the second
    assert violation.code == "dependency_cycle"
    assert violation.message == "the dependencies form a cycle: a -> c -> b -> a (each job depends on the next)"
    assert violation.pointer == f"{JOBS}/1/dependsOn/1"


def test_given_a_cycle_with_the_sdk_alias_when_checked_then_the_pointer_says_dependencies() -> None:
    # Given
    p = ExecutionPlan(jobs=jobs(("a", ["b"]), ("b", ["a"]), depends_on_field="dependencies"))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("dependency_cycle", f"{JOBS}/0/dependencies/0")


# --- references inside params --------------------------------------------------------------------------------------


def test_given_a_reference_to_a_job_not_in_depends_on_when_checked_then_undeclared() -> None:
    # Given b uses a's output without listing a
    p = plan(("a", []), ("b", [], {"video": "_videoJobDependency:a"}))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("undeclared_dependency_reference", f"{JOBS}/1/params/video")
    assert "does not list it in dependsOn" in violation.message


def test_given_a_reference_to_a_missing_job_when_checked_then_undeclared_and_not_in_plan() -> None:
    # Given
    p = plan(("a", [], {"video": "_videoJobDependency:ghost"}))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("undeclared_dependency_reference", f"{JOBS}/0/params/video")
    assert "'ghost', which is not in the plan" in violation.message


def test_given_a_reference_deep_inside_params_when_checked_then_the_pointer_is_escaped() -> None:
    # Given a reference nested in dicts and lists, under keys holding '/' and '~'
    params = {
        "z": "_videoJobDependency:a",
        "a/b": [{"keep": "plain"}, {"x~y": ["ok", "_imageJobDependency:a", {"~/": "_audioJobDependency:a"}]}],
        "m": {"deep": {"er": [[["_textJobDependency:a"]]]}},
    }
    p = plan(("a", []), ("b", [], params))
    # When
    violations = check_plan(p, LIMITS)
    # Then: RFC 6901 escapes ('/' -> ~1, '~' -> ~0), in document order
    assert where(violations) == [
        ("undeclared_dependency_reference", f"{JOBS}/1/params/z"),
        ("undeclared_dependency_reference", f"{JOBS}/1/params/a~1b/1/x~0y/1"),
        ("undeclared_dependency_reference", f"{JOBS}/1/params/a~1b/1/x~0y/2/~0~1"),
        ("undeclared_dependency_reference", f"{JOBS}/1/params/m/deep/er/0/0/0"),
    ]


def test_given_a_declared_reference_when_checked_then_valid() -> None:
    # Given / When / Then
    p = plan(("a", []), ("b", ["a"], {"items": [{"url": "_videoJobDependency:a"}]}))
    assert check_plan(p, LIMITS) == []


@pytest.mark.parametrize(
    "text",
    [
        "see _videoJobDependency:a",
        "x_videoJobDependency:a",
        "_JobDependency:a",
        "_1JobDependency:a",
        "videoJobDependency:a",
        "_videoJobDependency",
    ],
)
def test_given_a_string_that_only_contains_the_pattern_when_checked_then_not_a_reference(text: str) -> None:
    # Given a job that lists nothing, with a string that is not, as a whole, a reference
    p = plan(("a", []), ("b", [], {"note": text}))
    # When / Then
    assert DEPENDENCY_REFERENCE.fullmatch(text) is None
    assert check_plan(p, LIMITS) == []


# --- rootJobIds ----------------------------------------------------------------------------------------------------


def test_given_a_root_listed_twice_when_checked_then_duplicate_root_job_id() -> None:
    # Given / When
    violation = the_one(check_plan(plan(("a", []), roots=("a", "a")), LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("duplicate_root_job_id", f"{ROOTS}/1")


def test_given_a_root_not_in_the_plan_when_checked_then_unknown_root_job_id() -> None:
    # Given / When
    violation = the_one(check_plan(plan(("a", []), roots=("a", "ghost")), LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("unknown_root_job_id", f"{ROOTS}/1")
    assert "'ghost'" in violation.message


def test_given_roots_that_differ_from_the_jobs_without_dependencies_when_checked_then_mismatch_names_both() -> None:
    # Given a and c have no dependencies, b has; the client says a and b
    p = plan(("a", []), ("b", ["a"]), ("c", []), roots=("a", "b"))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("root_jobs_mismatch", ROOTS)
    assert "missing (no dependencies, so they are roots): c" in violation.message
    assert "not roots (they have dependencies): b" in violation.message


def test_given_empty_roots_for_a_non_empty_plan_when_checked_then_mismatch_lists_every_missing_root() -> None:
    # Given / When
    violation = the_one(check_plan(plan(("b", []), ("a", []), roots=()), LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("root_jobs_mismatch", ROOTS)
    assert "missing (no dependencies, so they are roots): a, b" in violation.message
    assert "not roots" not in violation.message


# --- limits from settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["operation", "type"])
def test_given_an_operation_outside_the_allowed_list_when_checked_then_operation_not_allowed(field: str) -> None:
    # Given ALLOWED_OPERATIONS=generate,merge and a job whose operation (or SDK "type") is "delete"
    limits = PlanLimits(allowed_operations=frozenset({"generate", "merge"}))
    p = ExecutionPlan(
        jobs=(
            PlannedJob(0, "ok", "merge", {}, (), operation_field=field),
            PlannedJob(1, "bad", "delete", {}, (), operation_field=field),
        )
    )
    # When
    violation = the_one(check_plan(p, limits))
    # Then
    assert (violation.code, violation.pointer) == ("operation_not_allowed", f"{JOBS}/1/{field}")
    assert "'delete'" in violation.message
    assert "generate, merge" in violation.message


def test_given_no_allowed_list_when_checked_then_any_operation_passes() -> None:
    # Given / When / Then
    p = ExecutionPlan(jobs=(PlannedJob(0, "a", "anything.at-all", {}, ()),))
    assert check_plan(p, PlanLimits(allowed_operations=frozenset())) == []


def test_given_params_exactly_at_the_limit_when_checked_then_valid_and_one_byte_more_is_too_large() -> None:
    # Given params whose compact UTF-8 JSON is {"k":"éé…","n":[1,2]}: each é is 2 bytes (ensure_ascii would give 6)
    params = {"k": "é" * 10, "n": [1, 2]}
    size = len('{"k":"","n":[1,2]}') + 2 * 10
    assert size == len(json.dumps(params, separators=(",", ":"), ensure_ascii=False).encode())
    p = plan(("a", [], params))
    # When / Then: the limit itself passes
    assert check_plan(p, PlanLimits(max_job_params_bytes=size)) == []
    # When / Then: one byte less of room fails
    violation = the_one(check_plan(p, PlanLimits(max_job_params_bytes=size - 1)))
    assert (violation.code, violation.pointer) == ("params_too_large", f"{JOBS}/0/params")
    assert f"{size} bytes" in violation.message


# --- webhook -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where_", ["/options/webhookUrl", "/options/webhook/url"])
def test_given_an_http_webhook_when_checked_then_insecure_at_its_pointer(where_: str) -> None:
    # Given
    p = plan(("a", []), webhook=WebhookTarget("http://example.com/hook", None, where_))
    # When
    violation = the_one(check_plan(p, LIMITS))
    # Then
    assert (violation.code, violation.pointer) == ("insecure_webhook_url", where_)
    # And with ALLOW_INSECURE_WEBHOOKS it passes, while a private host stays refused
    assert check_plan(p, LIMITS, allow_insecure_webhooks=True) == []
    private = plan(("a", []), webhook=WebhookTarget("http://10.0.0.1/hook", None, where_))
    assert where(check_plan(private, LIMITS, allow_insecure_webhooks=True)) == [("webhook_host_not_allowed", where_)]


# --- everything at once --------------------------------------------------------------------------------------------


def test_given_a_plan_with_many_problems_when_checked_then_all_are_reported() -> None:
    # Given one plan breaking ten different rules
    limits = PlanLimits(max_job_params_bytes=40, allowed_operations=frozenset({"generate"}))
    p = ExecutionPlan(
        jobs=(
            PlannedJob(0, "a", "generate", {}, ("b",)),
            PlannedJob(1, "b", "generate", {}, ("a",)),
            PlannedJob(2, "a", "generate", {}, ()),
            PlannedJob(3, "c", "delete", {}, ("ghost",)),
            PlannedJob(4, "d", "generate", {"v": "_videoJobDependency:c"}, ()),
            PlannedJob(5, "e", "generate", {"text": "x" * 50}, ("e",)),
        ),
        root_job_ids=("d", "nope", "c"),
        webhook=WebhookTarget("https://169.254.169.254/latest", None, "/options/webhookUrl"),
    )
    # When
    violations = check_plan(p, limits)
    # Then
    assert sorted(where(violations)) == sorted(
        [
            ("duplicate_job_id", f"{JOBS}/2/id"),
            ("operation_not_allowed", f"{JOBS}/3/operation"),
            ("unknown_dependency", f"{JOBS}/3/dependsOn/0"),
            ("undeclared_dependency_reference", f"{JOBS}/4/params/v"),
            ("params_too_large", f"{JOBS}/5/params"),
            ("self_dependency", f"{JOBS}/5/dependsOn/0"),
            ("dependency_cycle", f"{JOBS}/0/dependsOn/0"),
            ("unknown_root_job_id", f"{ROOTS}/1"),
            ("root_jobs_mismatch", ROOTS),
            ("webhook_host_not_allowed", "/options/webhookUrl"),
        ]
    )


# --- plan_from_body --------------------------------------------------------------------------------------------


def test_given_a_body_with_a_schema_problem_elsewhere_when_read_raw_then_graph_checks_still_run() -> None:
    # Given a body with an unknown field (a schema problem) and a cycle
    body = {
        "executionPlan": {
            "jobs": [
                {"id": "a", "operation": "generate", "dependsOn": ["b"], "colour": "red"},
                {"id": "b", "operation": "generate", "params": {"x": 1}, "dependsOn": ["a"]},
            ],
            "rootJobIds": ["a"],
            "typo": True,
        },
        "options": {"webhookUrl": "http://example.com/hook"},
    }
    # When
    p = plan_from_body(body)
    # Then
    assert p is not None
    assert p.jobs == (
        PlannedJob(0, "a", "generate", {}, ("b",)),
        PlannedJob(1, "b", "generate", {"x": 1}, ("a",)),
    )
    assert p.root_job_ids == ("a",)
    assert p.webhook == WebhookTarget("http://example.com/hook", None, "/options/webhookUrl")
    assert sorted(where(check_plan(p, LIMITS))) == sorted(
        [
            ("dependency_cycle", f"{JOBS}/0/dependsOn/0"),
            ("root_jobs_mismatch", ROOTS),
            ("insecure_webhook_url", "/options/webhookUrl"),
        ]
    )


def test_given_the_sdk_aliases_when_read_raw_then_pointers_use_type_and_dependencies() -> None:
    # Given the SDK's "type" and "dependencies", and its options.webhook form
    body = {
        "executionPlan": {"jobs": [{"id": "j", "type": "merge", "dependencies": ["ghost"], "output": "$j"}]},
        "options": {"webhook": {"url": "https://127.0.0.1/hook", "secret": "s"}},
    }
    # When
    p = plan_from_body(body)
    # Then
    assert p is not None
    (j,) = p.jobs
    assert (j.operation, j.operation_field, j.depends_on, j.depends_on_field) == (
        "merge",
        "type",
        ("ghost",),
        "dependencies",
    )
    assert p.root_job_ids is None
    limits = PlanLimits(allowed_operations=frozenset({"generate"}))
    assert where(check_plan(p, limits)) == [
        ("operation_not_allowed", f"{JOBS}/0/type"),
        ("unknown_dependency", f"{JOBS}/0/dependencies/0"),
        ("webhook_host_not_allowed", "/options/webhook/url"),
    ]


def test_given_a_non_string_operation_when_read_raw_then_the_plan_is_still_built() -> None:
    # Given / When
    p = plan_from_body({"executionPlan": {"jobs": [{"id": "a", "operation": 7}]}})
    # Then: the schema reports the operation; the graph can still be checked
    assert p is not None
    assert p.jobs[0].operation == ""
    assert check_plan(p, LIMITS) == []


def test_given_root_job_ids_that_are_not_strings_when_read_raw_then_roots_are_left_out() -> None:
    # Given / When
    p = plan_from_body({"executionPlan": {"jobs": [{"id": "a"}], "rootJobIds": ["a", 1]}})
    # Then
    assert p is not None
    assert p.root_job_ids is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {},
        {"executionPlan": []},
        {"executionPlan": {"jobs": {"a": {}}}},
        {"executionPlan": {"jobs": ["a"]}},
        {"executionPlan": {"jobs": [{"operation": "generate"}]}},
        {"executionPlan": {"jobs": [{"id": 5}]}},
        {"executionPlan": {"jobs": [{"id": "a"}, {"id": None}]}},
        {"executionPlan": {"jobs": [{"id": "a", "dependsOn": "b"}]}},
        {"executionPlan": {"jobs": [{"id": "a", "dependsOn": ["b", 2]}]}},
        {"executionPlan": {"jobs": [{"id": "a", "dependencies": [None]}]}},
        {"executionPlan": {"jobs": [{"id": "a", "params": []}]}},
    ],
)
def test_given_a_body_too_broken_to_reason_about_when_read_raw_then_none(body: Any) -> None:
    # Given / When / Then
    assert plan_from_body(body) is None


# --- pointer -------------------------------------------------------------------------------------------------------


def test_given_segments_with_slash_and_tilde_when_joined_then_rfc_6901_escaped() -> None:
    # Given / When / Then
    assert pointer() == ""
    assert pointer("executionPlan", "jobs", 3, "params") == "/executionPlan/jobs/3/params"
    assert pointer("a/b", "c~d", "~1", "") == "/a~1b/c~0d/~01/"


# --- properties ----------------------------------------------------------------------------------------------------

MAX_NODES = 9


@st.composite
def dags(draw: st.DrawFn, min_nodes: int = 0) -> tuple[list[str], dict[str, list[str]]]:
    """A random DAG: node i depends only on nodes < i; then the job order is shuffled."""
    n = draw(st.integers(min_value=min_nodes, max_value=MAX_NODES))
    names = [f"j{i}" for i in range(n)]
    deps = {
        names[i]: [names[k] for k in draw(st.lists(st.integers(0, i - 1), unique=True, max_size=i))] if i else []
        for i in range(n)
    }
    order = draw(st.permutations(names))
    return list(order), deps


def plan_of(order: list[str], deps: dict[str, list[str]], roots: tuple[str, ...] | None = None) -> ExecutionPlan:
    return ExecutionPlan(
        jobs=tuple(PlannedJob(i, name, "generate", {}, tuple(deps[name])) for i, name in enumerate(order)),
        root_job_ids=roots,
    )


def reaches(deps: dict[str, list[str]], start: str) -> set[str]:
    """Every job `start` depends on, directly or not."""
    seen: set[str] = set()
    stack = list(deps[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(deps[node])
    return seen


@settings(max_examples=150, deadline=None)
@given(dags())
def test_property_random_dags_are_accepted_and_roots_are_the_jobs_without_dependencies(
    dag: tuple[list[str], dict[str, list[str]]],
) -> None:
    # Given a random DAG in a random order
    order, deps = dag
    p = plan_of(order, deps)
    # When / Then: accepted
    assert check_plan(p, LIMITS) == []
    # And the derived roots are exactly the jobs without dependencies, in plan order
    roots = p.derived_root_job_ids()
    assert roots == tuple(name for name in order if not deps[name])
    # And giving them explicitly is accepted too
    assert check_plan(plan_of(order, deps, roots), LIMITS) == []


@settings(max_examples=150, deadline=None)
@given(dags(min_nodes=2), st.data())
def test_property_a_back_edge_is_one_dependency_cycle_naming_a_real_cycle(
    dag: tuple[list[str], dict[str, list[str]]], data: st.DataObject
) -> None:
    # Given a random DAG with at least one edge, and u that reaches v (u != v)
    order, deps = dag
    if not any(deps.values()):
        deps["j1"] = ["j0"]
    pairs = sorted((u, v) for u in deps for v in reaches(deps, u))
    assert pairs
    u, v = data.draw(st.sampled_from(pairs))
    # When v is made to depend on u
    deps = {name: [*d, u] if name == v else list(d) for name, d in deps.items()}
    violation = the_one(check_plan(plan_of(order, deps), LIMITS))
    # Then one dependency_cycle, naming a real cycle of the graph
    assert violation.code == "dependency_cycle"
    cycle = cycle_in(violation.message)
    assert len(cycle) >= 3
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1
    for job_id, next_id in pairwise(cycle):
        assert next_id in deps[job_id], (job_id, next_id, deps)
    # And the pointer is the first job's entry for the second
    first = order.index(cycle[0])
    assert violation.pointer == f"{JOBS}/{first}/dependsOn/{deps[cycle[0]].index(cycle[1])}"


@settings(max_examples=75, deadline=None)
@given(dags(min_nodes=1), st.data())
def test_property_a_self_edge_is_a_self_dependency_not_a_cycle(
    dag: tuple[list[str], dict[str, list[str]]], data: st.DataObject
) -> None:
    # Given a random DAG and one of its jobs
    order, deps = dag
    v = data.draw(st.sampled_from(order))
    # When the job is made to depend on itself
    deps = {name: [*d, name] if name == v else list(d) for name, d in deps.items()}
    violation = the_one(check_plan(plan_of(order, deps), LIMITS))
    # Then
    assert (violation.code, violation.pointer) == (
        "self_dependency",
        f"{JOBS}/{order.index(v)}/dependsOn/{len(deps[v]) - 1}",
    )


@st.composite
def messy_plans(draw: st.DrawFn) -> ExecutionPlan:
    """Unique ids, arbitrary dependencies (cycles, self, unknown, repeated), references, roots, operations."""
    n = draw(st.integers(0, 7))
    names = [f"j{i}" for i in range(n)]
    candidates = st.sampled_from([*names, "ghost"])
    built = []
    for index, name in enumerate(names):
        depends_on = tuple(draw(st.lists(candidates, max_size=3)))
        params: dict[str, Any] = {}
        if draw(st.booleans()):
            params["in"] = [f"_videoJobDependency:{draw(candidates)}"]
        operation = draw(st.sampled_from(["generate", "delete"]))
        built.append(PlannedJob(index, name, operation, params, depends_on))
    roots = draw(st.none() | st.lists(candidates, max_size=4).map(tuple))
    return ExecutionPlan(jobs=tuple(built), root_job_ids=roots)


@settings(max_examples=150, deadline=None)
@given(messy_plans(), st.data())
def test_property_shuffling_the_jobs_never_changes_the_violation_codes(p: ExecutionPlan, data: st.DataObject) -> None:
    # Given any plan with unique ids, and the same jobs in another order
    limits = PlanLimits(allowed_operations=frozenset({"generate"}))
    shuffled = data.draw(st.permutations(p.jobs))
    again = ExecutionPlan(
        jobs=tuple(PlannedJob(i, j.id, j.operation, j.params, j.depends_on) for i, j in enumerate(shuffled)),
        root_job_ids=p.root_job_ids,
    )
    # When / Then
    assert {v.code for v in check_plan(p, limits)} == {v.code for v in check_plan(again, limits)}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab/~01", max_size=6) | st.integers(0, 1000), max_size=6))
def test_property_pointer_round_trips_through_rfc_6901_unescaping(segments: list[str | int]) -> None:
    # Given raw segments with '/' and '~' (and '~0' / '~1' written literally)
    # When
    built = pointer(*segments)
    # Then
    assert unescape(built) == [str(s) for s in segments]
