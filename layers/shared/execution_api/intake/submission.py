"""Accepting a plan: a validated plan is stored as pending, with its credentials sealed, only once
every item is written. The rules are checked before (execution_api.intake.validation); what needs a read,
the base execution's jobs, is checked here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from nanoid import generate as nanoid

from execution_api.core import exact_json
from execution_api.core.aws_clients import dynamodb_client, kms_client
from execution_api.core.clock import iso_millis
from execution_api.core.container import per_container
from execution_api.core.credentials import MAX_SEALED_BYTES, CredentialVault, seal, take_credentials
from execution_api.core.errors import EXECUTION_ID, PlanRejected, Violation
from execution_api.core.sealing import CredentialCipher, SecretSealer
from execution_api.core.settings import SubmitSettings, load_settings
from execution_api.intake.rules import pointer
from execution_api.models.plan import ExecutionPlan, PlannedJob
from execution_api.models.records import Execution, Job
from execution_api.storage.executions import ExecutionStore, StoredExecutions
from execution_api.webhooks.urls import normalized_webhook_url

SECONDS_PER_DAY = 86_400


class SubmissionService:
    def __init__(
        self,
        store: StoredExecutions,
        cipher: SecretSealer,
        retention_days: int,
        new_id: Callable[[], str] = nanoid,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._retention_seconds = retention_days * SECONDS_PER_DAY
        self._new_id = new_id
        self._clock = clock

    def submit(self, plan: ExecutionPlan, tenant_id: str) -> tuple[Execution, list[Job]]:
        """Store a validated plan as pending; returns only once every item is written."""
        base_id = plan.base_execution_id
        # Checked after the plan itself (execution_api.intake.validation), so an invalid plan costs no read.
        base_jobs = self._base_jobs(plan, tenant_id) if base_id is not None else {}
        vault = CredentialVault(provider_api_keys={k: v.get_secret_value() for k, v in plan.provider_api_keys.items()})
        taken = [take_credentials(job.params, vault, job.params_json()) for job in plan.jobs]
        if vault and len(vault.plaintext()) > MAX_SEALED_BYTES:
            message = f"the plan's credentials take more than {MAX_SEALED_BYTES} bytes; send fewer distinct keys"
            raise PlanRejected([Violation("", "credentials_too_large", message)])

        execution_id = self._new_id()
        now = self._clock()
        created_at = iso_millis(now)
        webhook_ciphertext = None
        if plan.webhook is not None and plan.webhook.secret is not None:
            webhook_ciphertext = self._cipher.seal(execution_id, plan.webhook.secret)
        execution = Execution(
            id=execution_id,
            tenant_id=tenant_id,
            status="pending",
            created_at=created_at,
            updated_at=created_at,
            expires_at=int(now.timestamp()) + self._retention_seconds,
            root_job_ids=plan.root_job_ids if plan.root_job_ids is not None else plan.derived_root_job_ids(),
            total_jobs=len(plan.jobs),
            base_execution_id=base_id,
            webhook_url=normalized_webhook_url(plan.webhook.url) if plan.webhook else None,
            webhook_secret_ciphertext=webhook_ciphertext,
            sealed_credentials=seal(self._cipher, execution_id, vault) if vault else None,
        )
        jobs = [
            Job(
                id=job.id,
                position=job.index,
                operation=job.operation,
                params=params,
                depends_on=job.depends_on,
                output=job.output,
                base_depends_on=tuple(d for d in job.depends_on if d in base_jobs) if base_jobs else (),
                sealed_params=sealed,
                # Serialized once already, by the checks; what was sealed changed, so it is written again.
                params_text=None if sealed else exact_json.text_of(job.params, job.params_json()),
                send_webhook=plan.webhook is not None and job.params.get("sendJobWebhook") is True,
            )
            for job, (params, sealed) in zip(plan.jobs, taken, strict=True)
        ]
        self._store.create(execution, jobs)
        return execution, jobs

    def _base_jobs(self, plan: ExecutionPlan, tenant_id: str) -> dict[str, Job]:
        """The base execution's jobs that this plan depends on, each checked to exist and be completed."""
        base_id = plan.base_execution_id or ""
        wanted = plan.base_dependencies()
        # Only a plan that uses the base's jobs pays for reading them; otherwise one small GetItem.
        base_jobs: list[Job] | None = None
        if not EXECUTION_ID.fullmatch(base_id):
            pass
        elif wanted:
            found = self._store.get(tenant_id, base_id)
            base_jobs = found[1] if found else None
        elif self._store.exists(tenant_id, base_id):
            base_jobs = []
        if base_jobs is None:
            message = f"no execution '{base_id}' to build on"
            raise PlanRejected([Violation(plan.base_execution_pointer, "base_execution_not_found", message)])
        jobs = {job.id: job for job in base_jobs}
        violations = [
            violation
            for dependency, dependents in wanted.items()
            for job in dependents
            if (violation := _base_dependency_problem(job, dependency, jobs.get(dependency))) is not None
        ]
        if violations:
            raise PlanRejected(violations)
        return {dependency: jobs[dependency] for dependency in wanted}


def _base_dependency_problem(job: PlannedJob, dependency: str, base_job: Job | None) -> Violation | None:
    where = pointer("executionPlan", "jobs", job.index, job.depends_on_field, job.depends_on.index(dependency))
    if base_job is None:
        message = f"job '{job.id}' depends on '{dependency}', which is in neither the plan nor the base execution"
        return Violation(where, "unknown_dependency", message)
    if base_job.status != "completed":
        message = f"job '{job.id}' depends on '{dependency}' of the base execution, which is {base_job.status}"
        return Violation(where, "base_job_not_complete", message + ", not completed")
    return None


@per_container
def submission_service() -> SubmissionService:
    """The submission service wired to DynamoDB and KMS, once per container."""
    settings = load_settings(SubmitSettings)
    return SubmissionService(
        store=ExecutionStore(dynamodb_client(), settings.executions_table_name),
        cipher=CredentialCipher(kms_client(), settings.credential_key_id),
        retention_days=settings.execution_retention_days,
    )
