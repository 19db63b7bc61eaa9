"""The rules that need the whole plan: pure functions, no AWS, every violation collected.

Structure (types, lengths, patterns, unknown fields) is pydantic's job in `models.request`;
these checks cover what a schema cannot: the dependency graph, the roots, references inside
`params`, limits taken from settings, and the webhook host.
"""

from __future__ import annotations

import graphlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from execution_api.errors import Violation
from execution_api.models.records import ExecutionPlan, PlannedJob, WebhookTarget
from execution_api.settings import Settings
from execution_api.webhook_urls import webhook_url_problem

# The SDK wires one job's output into another's input with strings like "_videoJobDependency:job1".
DEPENDENCY_REFERENCE = re.compile(r"_[A-Za-z][A-Za-z0-9]*JobDependency:(?P<job_id>.*)", re.DOTALL)


@dataclass(frozen=True)
class PlanLimits:
    max_jobs: int = 500
    max_job_params_bytes: int = 64 * 1024
    allowed_operations: frozenset[str] = frozenset()
    allow_insecure_webhooks: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PlanLimits:
        return cls(
            max_jobs=settings.max_jobs,
            max_job_params_bytes=settings.max_job_params_bytes,
            allowed_operations=settings.allowed_operations,
            allow_insecure_webhooks=settings.allow_insecure_webhooks,
        )


def check_plan(plan: ExecutionPlan, limits: PlanLimits) -> list[Violation]:
    """Every violation of the plan-wide rules, in a stable order; empty when the plan is valid."""
    violations: list[Violation] = []
    if len(plan.jobs) > limits.max_jobs:
        violations.append(
            Violation(
                "/executionPlan/jobs",
                "too_many_jobs",
                f"a plan has at most {limits.max_jobs} jobs, this one {len(plan.jobs)}",
            )
        )
    jobs_by_id = _unique_jobs(plan.jobs, violations)
    for job in plan.jobs:
        violations.extend(_job_limits(job, limits))
        violations.extend(_dependency_problems(job, jobs_by_id))
        violations.extend(_reference_problems(job, jobs_by_id))
    violations.extend(_cycle_problems(jobs_by_id))
    if plan.root_job_ids is not None:
        violations.extend(_root_problems(plan, jobs_by_id))
    if plan.webhook is not None:
        problem = webhook_url_problem(plan.webhook.url, allow_insecure=limits.allow_insecure_webhooks)
        if problem is not None:
            violations.append(Violation(plan.webhook.pointer, *problem))
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


def _job_limits(job: PlannedJob, limits: PlanLimits) -> Iterator[Violation]:
    if limits.allowed_operations and job.operation not in limits.allowed_operations:
        allowed = ", ".join(sorted(limits.allowed_operations))
        yield Violation(
            _job_pointer(job, job.operation_field),
            "operation_not_allowed",
            f"operation '{job.operation}' is not one of: {allowed}",
        )
    size = len(json.dumps(job.params, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > limits.max_job_params_bytes:
        yield Violation(
            _job_pointer(job, "params"),
            "params_too_large",
            f"params of job '{job.id}' are {size} bytes serialized, more than {limits.max_job_params_bytes}",
        )


def _dependency_problems(job: PlannedJob, jobs_by_id: dict[str, PlannedJob]) -> Iterator[Violation]:
    seen: set[str] = set()
    for position, dependency in enumerate(job.depends_on):
        problem: tuple[str, str] | None = None
        if dependency in seen:
            problem = ("duplicate_dependency", f"job '{job.id}' lists '{dependency}' twice")
        elif dependency == job.id:
            problem = ("self_dependency", f"job '{job.id}' depends on itself")
        elif dependency not in jobs_by_id:
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


def _strings_in(value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside a JSON value with its path; iterative, so deep nesting cannot overflow."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, str):
            yield path, current
        elif isinstance(current, dict):
            stack.extend(((*path, key), item) for key, item in reversed(current.items()))
        elif isinstance(current, list):
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(current))))


def _cycle_problems(jobs_by_id: dict[str, PlannedJob]) -> Iterator[Violation]:
    graph = {
        job_id: [d for d in job.depends_on if d in jobs_by_id and d != job_id] for job_id, job in jobs_by_id.items()
    }
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        # graphlib lists each node before the nodes that depend on it; reversed, each job depends on the next.
        cycle: list[str] = list(reversed(error.args[1]))
        first = jobs_by_id[cycle[0]]
        yield Violation(
            _job_pointer(first, first.depends_on_field, first.depends_on.index(cycle[1])),
            "dependency_cycle",
            f"the dependencies form a cycle: {' -> '.join(cycle)} (each job depends on the next)",
        )


def _root_problems(plan: ExecutionPlan, jobs_by_id: dict[str, PlannedJob]) -> Iterator[Violation]:
    given = plan.root_job_ids or ()
    seen: set[str] = set()
    for position, job_id in enumerate(given):
        where = pointer("executionPlan", "rootJobIds", position)
        if job_id in seen:
            yield Violation(where, "duplicate_root_job_id", f"'{job_id}' is listed twice in rootJobIds")
        elif job_id not in jobs_by_id:
            yield Violation(where, "unknown_root_job_id", f"root job '{job_id}' is not in the plan")
        seen.add(job_id)
    expected = {job_id for job_id, job in jobs_by_id.items() if not job.depends_on}
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


def plan_from_raw_body(body: Any) -> ExecutionPlan | None:
    """A best-effort plan from a body that failed schema validation, so graph problems are reported
    in the same answer as schema problems. None when the jobs' shape is too broken to reason about
    (an id that is not a string, a dependency list that is not a list of strings, ...)."""
    plan = body.get("executionPlan") if isinstance(body, dict) else None
    if not isinstance(plan, dict) or not isinstance(plan.get("jobs"), list):
        return None
    raw_jobs: list[Any] = plan["jobs"]
    jobs: list[PlannedJob] = []
    for index, raw in enumerate(raw_jobs):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            return None
        depends_field = "dependencies" if "dependencies" in raw and "dependsOn" not in raw else "dependsOn"
        depends_on = raw.get(depends_field, [])
        params = raw.get("params", {})
        if not (
            isinstance(depends_on, list) and all(isinstance(d, str) for d in depends_on) and isinstance(params, dict)
        ):
            return None
        operation_field = "type" if "type" in raw and "operation" not in raw else "operation"
        operation = raw.get(operation_field)
        jobs.append(
            PlannedJob(
                index=index,
                id=raw["id"],
                operation=operation if isinstance(operation, str) else "",
                params=params,
                depends_on=tuple(depends_on),
                depends_on_field=depends_field,
                operation_field=operation_field,
            )
        )
    roots = plan.get("rootJobIds")
    return ExecutionPlan(
        jobs=tuple(jobs),
        root_job_ids=tuple(roots) if isinstance(roots, list) and all(isinstance(r, str) for r in roots) else None,
        webhook=_raw_webhook(body.get("options")),
    )


def _raw_webhook(options: Any) -> WebhookTarget | None:
    if not isinstance(options, dict):
        return None
    webhook = options.get("webhook")
    if isinstance(webhook, dict) and isinstance(webhook.get("url"), str):
        return WebhookTarget(webhook["url"], None, "/options/webhook/url")
    if isinstance(options.get("webhookUrl"), str):
        return WebhookTarget(options["webhookUrl"], None, "/options/webhookUrl")
    return None
