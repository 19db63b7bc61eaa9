"""An execution's outcome in words, from its jobs' records: a worker's result as stored, the run's result (its
last leaf job's output) and its error (the failed jobs, root causes first)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from execution_api.engine.params import output_url
from execution_api.models.records import Job

DEPENDENCY_FAILED = "Dependency job failed: {}"


def result_shape(result: Any) -> dict[str, Any]:
    """A worker's result as docs/api.md shows it: an object with status and outputs."""
    if not isinstance(result, dict):
        return {"status": "completed", "outputs": [], "metadata": {"value": result}}
    return {"status": "completed", "outputs": [], **result}


def execution_outcome(jobs: Sequence[Job]) -> tuple[str, dict[str, Any] | None, str | None]:
    """(status, result, error) of an execution whose jobs (in plan order) have all ended: completed with the
    run's result when every job completed, else failed with its error."""
    failed = [job for job in jobs if job.status != "completed"]
    if failed:
        return "failed", None, execution_error(failed)
    return "completed", execution_result(jobs), None


def execution_result(jobs: Sequence[Job]) -> dict[str, Any] | None:
    """{url, status} of the leaf job (no job depends on it) that completed last, as in the original backend; of two
    that completed in the same millisecond, the later in plan order. None for an empty plan."""
    depended_on = {d for job in jobs for d in job.depends_on}
    leaves = [(job.completed_at or "", i, job) for i, job in enumerate(jobs) if job.id not in depended_on]
    if not leaves:
        return None
    last = max(leaves, key=lambda leaf: leaf[:2])[2]
    return {"url": output_url(last.result), "status": "completed"}


def execution_error(failed: Sequence[Job]) -> str:
    """Names the failed jobs' errors, the root causes first (not the "Dependency job failed" ones)."""
    errors = [(job.id, str(job.error or job.status)) for job in failed]
    causes = [e for e in errors if not e[1].startswith(DEPENDENCY_FAILED.format(""))] or errors
    listed = "; ".join(f"job {job_id} failed: {error}" for job_id, error in causes[:10])
    more = len(errors) - min(len(causes), 10)
    return listed + (f" (and {more} more job{'s' if more != 1 else ''} not completed)" if more else "")
