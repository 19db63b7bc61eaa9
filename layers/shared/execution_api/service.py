"""What the service does: accept a plan, record it as pending, report an execution's status."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from execution_api.aws_clients import dynamodb_client, kms_client
from execution_api.errors import ExecutionNotFound, PlanRejected, Violation
from execution_api.models.records import Execution, Job
from execution_api.repository import ExecutionRepository
from execution_api.settings import get_settings
from execution_api.webhook_secrets import WebhookSecretCipher

if TYPE_CHECKING:  # the submit path: the status function never imports it (cold start)
    from execution_api.models.request import SubmitExecutionRequest
    from execution_api.plan_checks import PlanLimits

EXECUTION_ID = re.compile(r"[A-Za-z0-9_-]{21}")  # nanoid's default size and URL-safe alphabet
SECONDS_PER_DAY = 86_400


def iso_millis(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and Z: 2026-11-26T06:47:19.123Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class ExecutionService:
    def __init__(
        self,
        repository: ExecutionRepository,
        secret_cipher: WebhookSecretCipher | None,
        limits: PlanLimits | None,
        retention_days: int,
        new_id: Callable[[], str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`limits` None: from the settings at the first submission; `new_id` None: nanoid."""
        self._repository = repository
        self._secret_cipher = secret_cipher
        self._limits = limits
        self._retention_seconds = retention_days * SECONDS_PER_DAY
        self._new_id = new_id
        self._clock = clock

    def submit(self, request: SubmitExecutionRequest, tenant_id: str) -> tuple[Execution, list[Job]]:
        """Validate the whole plan, then store it as pending; returns only once every item is written."""
        from execution_api.plan_checks import PlanLimits, check_plan  # submit path only (status cold start)

        if self._limits is None:
            self._limits = PlanLimits.from_settings(get_settings())
        if self._new_id is None:
            from nanoid import generate  # submit path only (status cold start)

            self._new_id = generate
        plan = request.to_plan()
        violations = check_plan(plan, self._limits)
        if violations:
            raise PlanRejected(violations)
        base_id = plan.base_execution_id
        # Checked after the plan itself, so an invalid plan costs no read.
        if base_id is not None and not (
            EXECUTION_ID.fullmatch(base_id) and self._repository.exists(tenant_id, base_id)
        ):
            raise PlanRejected(
                [
                    Violation(
                        plan.base_execution_pointer, "base_execution_not_found", f"no execution '{base_id}' to build on"
                    )
                ]
            )

        execution_id = self._new_id()
        now = self._clock()
        created_at = iso_millis(now)
        ciphertext = None
        if plan.webhook is not None and plan.webhook.secret is not None:
            if self._secret_cipher is None:
                raise RuntimeError("WEBHOOK_SECRET_KEY_ID is not configured")
            ciphertext = self._secret_cipher.seal(execution_id, plan.webhook.secret)
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
            webhook_url=plan.webhook.url if plan.webhook else None,
            webhook_secret_ciphertext=ciphertext,
        )
        jobs = [
            Job(
                id=job.id,
                position=job.index,
                operation=job.operation,
                params=job.params,
                depends_on=job.depends_on,
                output=job.output,
            )
            for job in plan.jobs
        ]
        self._repository.create(execution, jobs)
        return execution, jobs

    def status(self, tenant_id: str, execution_id: str) -> tuple[Execution, list[Job]]:
        # A malformed id cannot exist: answer 404 without a read.
        found = self._repository.get(tenant_id, execution_id) if EXECUTION_ID.fullmatch(execution_id) else None
        if found is None:
            raise ExecutionNotFound(execution_id)
        return found


@lru_cache(maxsize=1)
def execution_service() -> ExecutionService:
    """The service wired to DynamoDB and KMS, once per container."""
    settings = get_settings()
    cipher = (
        WebhookSecretCipher(kms_client(), settings.webhook_secret_key_id) if settings.webhook_secret_key_id else None
    )
    return ExecutionService(
        repository=ExecutionRepository(dynamodb_client(), settings.executions_table_name),
        secret_cipher=cipher,
        limits=None,  # read at the first submission, so the status function never loads the plan checks
        retention_days=settings.execution_retention_days,
    )
