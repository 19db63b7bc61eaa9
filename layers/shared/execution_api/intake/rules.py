"""The rules that need the whole plan: pure functions, no AWS, every violation collected.

Structure (types, lengths, patterns, unknown fields) is pydantic's job in `models.request`;
these checks cover what a schema cannot: the dependency graph, the roots, references inside
`params`, limits taken from settings, and the webhook host. Dependencies on jobs of a base
execution need a read, so they are the service's to check; here they only leave the graph.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from execution_api.core import exact_json, limits
from execution_api.core.errors import Violation
from execution_api.core.operations import GENERATION_OPERATIONS, accepted_operations, runs_simulated
from execution_api.models.plan import DEPENDENCY_REFERENCE, ExecutionPlan, PlannedJob
from execution_api.providers.catalog import ModelProblem, route
from execution_api.webhooks.urls import webhook_problems

if TYPE_CHECKING:
    from execution_api.core.settings import SubmitSettings


@dataclass(frozen=True)
class PlanLimits:
    max_jobs: int = limits.MAX_JOBS
    max_job_params_bytes: int = limits.MAX_JOB_PARAMS_BYTES
    allowed_operations: frozenset[str] = frozenset()
    # Generation jobs: the models of the map (execution_api.providers.catalog) and this deployment's defaults;
    # off by default as allowed_operations' empty set is "any" (a deployment's settings turn it on).
    check_models: bool = False
    default_models: tuple[tuple[str, str], ...] = ()
    local_providers: bool = False
    simulated_executor: bool = False

    @classmethod
    def from_settings(cls, settings: SubmitSettings) -> PlanLimits:
        return cls(
            max_jobs=settings.max_jobs,
            max_job_params_bytes=settings.max_job_params_bytes,
            allowed_operations=accepted_operations(
                settings.allowed_operations, simulated_executor=settings.simulated_executor
            ),
            check_models=True,
            default_models=tuple(sorted(settings.default_models.items())),
            local_providers=settings.local_providers,
            simulated_executor=settings.simulated_executor,
        )


def check_plan(plan: ExecutionPlan, limits: PlanLimits, *, allow_insecure_webhooks: bool = False) -> list[Violation]:
    """Every violation of the plan-wide rules, in a stable order; empty when the plan is valid. How many
    jobs a plan may hold is checked before, on the body (execution_api.intake.validation)."""
    violations: list[Violation] = []
    jobs_by_id = _unique_jobs(plan.jobs, violations)
    may_be_in_base = plan.base_execution_id is not None
    for job in plan.jobs:
        violations.extend(_job_problems(job, limits, jobs_by_id, may_be_in_base))
    violations.extend(_cycle_problems(jobs_by_id))
    if plan.root_job_ids is not None:
        violations.extend(_root_problems(plan, jobs_by_id))
    if plan.webhook is not None:
        violations.extend(webhook_problems(plan.webhook, allow_insecure=allow_insecure_webhooks))
    return violations


def pointer(*segments: str | int) -> str:
    """An RFC 6901 JSON Pointer from raw segments (escapes `~` and `/`)."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in segments)


def _job_pointer(job: PlannedJob, *rest: str | int) -> str:
    return pointer("executionPlan", "jobs", job.index, *rest)


def _unique_jobs(jobs: tuple[PlannedJob, ...], violations: list[Violation]) -> dict[str, PlannedJob]:
    """The first job of each id; later duplicates are reported and left out of the graph."""
    jobs_by_id: dict[str, PlannedJob] = {}
    for job in jobs:
        first = jobs_by_id.setdefault(job.id, job)
        if first is not job:
            violations.append(
                Violation(
                    _job_pointer(job, "id"),
                    "duplicate_job_id",
                    f"job id '{job.id}' is already used by job {first.index}",
                )
            )
    return jobs_by_id


def _job_problems(
    job: PlannedJob, limits: PlanLimits, jobs_by_id: dict[str, PlannedJob], may_be_in_base: bool
) -> Iterator[Violation]:
    if limits.allowed_operations and job.operation not in limits.allowed_operations:
        allowed = ", ".join(sorted(limits.allowed_operations))
        message = f"operation '{job.operation}' is not one of: {allowed}"
        yield Violation(_job_pointer(job, job.operation_field), "operation_not_allowed", message)
    if limits.check_models and job.operation in GENERATION_OPERATIONS:
        yield from _model_problems(job, limits)
    if job.params:
        yield from _params_problems(job, limits.max_job_params_bytes, jobs_by_id)
    if job.depends_on:
        yield from _dependency_problems(job, jobs_by_id, may_be_in_base)


def _model_problems(job: PlannedJob, limits: PlanLimits) -> Iterator[Violation]:
    """A generation job names a model and provider of the map, or has a default (jobs the simulated
    executor runs are not checked: they reach no provider)."""
    if runs_simulated(job.operation, job.params, simulated_executor=limits.simulated_executor):
        return
    try:
        route(job.operation, job.params, dict(limits.default_models), local_providers=limits.local_providers)
    except ModelProblem as problem:
        yield Violation(_job_pointer(job, "params", problem.field), problem.code, problem.message)


def _params_problems(job: PlannedJob, max_params_bytes: int, jobs_by_id: dict[str, PlannedJob]) -> Iterator[Violation]:
    # The params' JSON text, serialized once for the checks, the credential scan and storage, quotes
    # Decimals: its size is an upper bound, and the exact size is computed only when that is over.
    data = job.params_json()
    if len(data) > max_params_bytes:
        size = len(exact_json.dumps(job.params).encode("utf-8"))
        if size > max_params_bytes:
            message = f"params of job '{job.id}' are {size} bytes serialized, more than {max_params_bytes}"
            yield Violation(_job_pointer(job, "params"), "params_too_large", message)
    # Most params wire no output in, or only outputs of declared dependencies: then no string can be an
    # undeclared reference, and the walk that finds each string's pointer (most of a 500-job plan's
    # checks when every job takes an input) is skipped.
    if b"JobDependency:" in data:
        if not _references_only_declared(data, job.depends_on):
            yield from _reference_problems(job, jobs_by_id)
        if data.count(b"JobDependency:") > 1:  # a collision takes two references
            yield from _reference_key_collisions(job)


def _references_only_declared(data: bytes, depends_on: tuple[str, ...]) -> bool:
    """Whether every "JobDependency:" in the params' JSON text is followed by the id of a declared
    dependency and an unescaped quote. Then every string that is a reference (DEPENDENCY_REFERENCE, from
    its first "JobDependency:" to its closing quote) names a declared dependency. Counting never misses a
    problem: an occurrence anywhere else, or an id JSON writes escaped, leaves the counts unequal and the
    walk decides."""
    declared = 0
    for dependency in set(depends_on):
        if dependency.isprintable() and '"' not in dependency and "\\" not in dependency:  # written as is
            declared += data.count(b"JobDependency:" + dependency.encode() + b'"')
    return declared == data.count(b"JobDependency:")


def _dependency_problems(
    job: PlannedJob, jobs_by_id: dict[str, PlannedJob], may_be_in_base: bool
) -> Iterator[Violation]:
    seen: set[str] = set()
    for position, dependency in enumerate(job.depends_on):
        problem: tuple[str, str] | None = None
        if dependency in seen:
            problem = ("duplicate_dependency", f"job '{job.id}' lists '{dependency}' twice")
        elif dependency == job.id:
            problem = ("self_dependency", f"job '{job.id}' depends on itself")
        elif dependency not in jobs_by_id and not may_be_in_base:
            problem = ("unknown_dependency", f"job '{job.id}' depends on '{dependency}', which is not in the plan")
        if problem is not None:  # the pointer is built only for a problem: valid plans are the hot path
            yield Violation(_job_pointer(job, job.depends_on_field, position), *problem)
        seen.add(dependency)


def _reference_problems(job: PlannedJob, jobs_by_id: dict[str, PlannedJob]) -> Iterator[Violation]:
    declared = set(job.depends_on)
    for path, value in _strings_in(job.params):
        match = DEPENDENCY_REFERENCE.fullmatch(value)
        if match is None or match["job_id"] in declared:
            continue
        referenced = match["job_id"]
        if referenced in jobs_by_id:
            reason = f"job '{job.id}' uses the output of '{referenced}' but does not list it in {job.depends_on_field}"
        else:
            reason = f"job '{job.id}' uses the output of '{referenced}', which is not in the plan"
        yield Violation(_job_pointer(job, "params", *path), "undeclared_dependency_reference", reason)


def _reference_key_collisions(job: PlannedJob) -> Iterator[Violation]:
    """Two keys of one object that are references to the same job would become the same url, and one
    value would be lost: each is pointed at, naming the other."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), job.params)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, list):
            stack.extend(((*path, i), item) for i, item in enumerate(current) if isinstance(item, dict | list))
            continue
        first_key: dict[str, str] = {}
        for key, item in current.items():
            match = DEPENDENCY_REFERENCE.fullmatch(key)
            other = first_key.setdefault(match["job_id"], key) if match else key
            if other != key:
                yield from _collision(job, path, other, key, match["job_id"] if match else "")
            if isinstance(item, dict | list):
                stack.append(((*path, key), item))


def _collision(
    job: PlannedJob, path: tuple[str | int, ...], first: str, second: str, job_id: str
) -> Iterator[Violation]:
    message = (
        f"keys '{first}' and '{second}' of one object both become the output url of '{job_id}', "
        "so one value would be lost; merge them under one key"
    )
    for key in (first, second):
        yield Violation(_job_pointer(job, "params", *path, key), "duplicate_reference_key", message)


def _strings_in(value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside a JSON value, object keys included, with its path (a key's path is its
    member's); iterative, so deep nesting cannot overflow."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, str):
            yield path, current
        elif isinstance(current, dict):
            for key, item in reversed(current.items()):
                stack.append(((*path, key), item))
                stack.append(((*path, key), key))
        elif isinstance(current, list):
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(current))))


def _cycle_problems(jobs_by_id: dict[str, PlannedJob]) -> Iterator[Violation]:
    """One cycle, named as the standard library names it. The graph holds the first job of each id and its
    dependencies in the plan (a dependency on itself is reported apart)."""
    graph = {
        job_id: [dependency for dependency in job.depends_on if dependency in jobs_by_id and dependency != job_id]
        for job_id, job in jobs_by_id.items()
    }
    if not _has_cycle(graph):
        return
    try:
        graphlib.TopologicalSorter(graph).prepare()  # only to name the cycle, as the standard library does
    except graphlib.CycleError as error:
        # graphlib lists each node before the nodes that depend on it; reversed, each job depends on the next.
        cycle: list[str] = list(reversed(error.args[1]))
        first = jobs_by_id[cycle[0]]
        yield Violation(
            _job_pointer(first, first.depends_on_field, first.depends_on.index(cycle[1])),
            "dependency_cycle",
            f"the dependencies form a cycle: {' -> '.join(cycle)} (each job depends on the next)",
        )


def _has_cycle(graph: dict[str, list[str]]) -> bool:
    """Kahn's algorithm: a few times cheaper than graphlib's search on the valid plans of every request."""
    waiting = {node: len(dependencies) for node, dependencies in graph.items()}
    dependents: dict[str, list[str]] = {}
    for node, dependencies in graph.items():
        for dependency in dependencies:
            dependents.setdefault(dependency, []).append(node)
    ready = [node for node, count in waiting.items() if count == 0]
    done = 0
    while ready:
        done += 1
        for dependent in dependents.get(ready.pop(), ()):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    return done < len(graph)


def _root_problems(plan: ExecutionPlan, jobs_by_id: dict[str, PlannedJob]) -> Iterator[Violation]:
    given = plan.root_job_ids or ()
    seen: set[str] = set()
    for position, job_id in enumerate(given):
        if job_id in seen:
            message = f"'{job_id}' is listed twice in rootJobIds"
            yield Violation(pointer("executionPlan", "rootJobIds", position), "duplicate_root_job_id", message)
        elif job_id not in jobs_by_id:
            message = f"root job '{job_id}' is not in the plan"
            yield Violation(pointer("executionPlan", "rootJobIds", position), "unknown_root_job_id", message)
        seen.add(job_id)
    # A job that depends only on jobs of the base execution can start at once: it is a root too.
    if plan.base_execution_id is None:
        expected = {job_id for job_id, job in jobs_by_id.items() if not job.depends_on}
    else:  # dependencies outside the plan are jobs of the base execution
        expected = {job_id for job_id, job in jobs_by_id.items() if not any(d in jobs_by_id for d in job.depends_on)}
    missing = sorted(expected - seen)
    extra = sorted(job_id for job_id in seen & jobs_by_id.keys() if job_id not in expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing (no dependencies, so they are roots): " + ", ".join(missing))
        if extra:
            parts.append("not roots (they have dependencies): " + ", ".join(extra))
        yield Violation(
            "/executionPlan/rootJobIds",
            "root_jobs_mismatch",
            "rootJobIds must list exactly the jobs without dependencies; " + "; ".join(parts),
        )
