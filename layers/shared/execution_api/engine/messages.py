"""The messages on the engine's queue and the work queues (docs/engine.md), as typed models: what the state
machine sends (statemachine/execution.asl.json, whose `action` values are these Literals: a test holds them
equal) and what a provider's callback or the poller puts on a work queue. The batch handlers parse each SQS
record with Powertools' parser (`EngineRecord`, `WorkRecord`: the body is JSON of one message, read by json.loads),
so a message that does not parse fails its record alone; SQS retries it, then moves it to the dead-letter queue.

Task tokens are secrets: they are left out of a model's repr, and a validation error's text never quotes the
input (`hide_input_in_errors`), since Powertools puts that text in the log and in the error it raises when a
whole batch failed. Unknown fields are ignored, so a sender that adds one does not break a consumer."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from execution_api.core import exact_json
from execution_api.core.sqs_json import json_body

MESSAGE_CONFIG = ConfigDict(frozen=True, hide_input_in_errors=True, extra="ignore")

# The errors a task token is failed with (SendTaskFailure), as the definition names them: RunJob's Retry retries
# JOB_RETRYABLE (up to JOB_MAX_ATTEMPTS in all) and its Catch takes the rest to RecordFailure; the gate's two
# go to WaitForDependencies' Catch (NotRun). A test holds them equal to statemachine/execution.asl.json.
JOB_RETRYABLE = "Job.Retryable"
JOB_FAILED = "Job.Failed"
JOB_NOT_RUN = "Job.NotRun"  # the gate: the job was failed or cancelled meanwhile
JOB_DEPENDENCY_FAILED = "Job.DependencyFailed"  # the gate: a dependency failed
JOB_NOT_FOUND = "Job.NotFound"  # the gate: the execution holds no such job


class EngineMessage(BaseModel):
    """What every engine message carries: the execution, and the task token its state waits on."""

    model_config = MESSAGE_CONFIG

    tenant_id: str = Field(alias="tenantId", min_length=1)
    execution_id: str = Field(alias="executionId", min_length=1)
    task_token: str = Field(alias="taskToken", min_length=1, repr=False)


class Gate(EngineMessage):
    """WaitForDependencies: answer with the job message once every dependency of the job is done."""

    action: Literal["gate"]
    job_id: str = Field(alias="jobId", min_length=1)


class Completed(EngineMessage):
    """RecordSuccess: record the worker's result; open the gates whose last dependency this job was."""

    action: Literal["completed"]
    job_id: str = Field(alias="jobId", min_length=1)
    result: Any = None  # what the worker answered (SendTaskSuccess), stored as the job's result


class Failed(EngineMessage):
    """RecordFailure: fail the job and, transitively, its dependents."""

    action: Literal["failed"]
    job_id: str = Field(alias="jobId", min_length=1)
    failure: Any = None  # the Catch's output, {"Error", "Cause"}; Engine.failed words whatever shape it gets


class Finish(EngineMessage):
    """Finish: write the execution's outcome from its jobs."""

    action: Literal["finish"]


ENGINE_ACTIONS: tuple[str, ...] = tuple(
    get_args(model.model_fields["action"].annotation)[0] for model in (Gate, Completed, Failed, Finish)
)


def _action(body: Any) -> Any:
    return body.get("action") if isinstance(body, dict) else getattr(body, "action", None)


# The tags are the Literals above (a message whose tag and Literal differed could never parse: the round-trip
# test would fail). A discriminator of our own, so that an unknown action is refused without quoting it.
EngineAction = Annotated[
    Annotated[Gate, Tag("gate")]
    | Annotated[Completed, Tag("completed")]
    | Annotated[Failed, Tag("failed")]
    | Annotated[Finish, Tag("finish")],
    Discriminator(
        _action,
        custom_error_type="engine_action",
        custom_error_message=f"the action is none of the engine's ({', '.join(ENGINE_ACTIONS)})",
    ),
]


class EngineRecord(SqsRecordModel):
    """An EngineQueue record whose body is one engine message."""

    model_config = ConfigDict(hide_input_in_errors=True)

    body: Annotated[EngineAction, BeforeValidator(json_body)]  # the text, parsed and validated


class WorkJob(BaseModel):
    """The job as the gate's answer (`GateAnswer`) hands it to a worker: what a worker reads of it."""

    model_config = MESSAGE_CONFIG

    tenant_id: str = Field(alias="tenantId", min_length=1)
    execution_id: str = Field(alias="executionId", min_length=1)
    id: str = Field(min_length=1)
    operation: str = Field(min_length=1)
    params_json: str = Field("{}", alias="paramsJson")  # exact JSON text: no hop may round a number
    dependencies: dict[str, str | None] = Field(default_factory=dict)  # job id -> its first output url

    def params(self) -> dict[str, Any]:
        """The params, numbers exact (Decimal for fractions)."""
        params: dict[str, Any] = exact_json.loads(self.params_json)
        return params


class GateAnswer(WorkJob):
    """WaitForDependencies' answer (Engine.job_message), which RunJob sends on as the attempt's `job`: the job a
    worker reads, and what only Step Functions reads (the queue RunJob sends to, how long it waits)."""

    queue_url: str = Field(alias="queueUrl", min_length=1)  # RunJob's QueueUrl.$
    timeout_seconds: int = Field(alias="timeoutSeconds", ge=1)  # RunJob's TimeoutSecondsPath
    output: str | None = None  # the plan's label for the job's output, passed on as it was written

    def wire(self) -> dict[str, Any]:
        """The answer as Step Functions gets it (SendTaskSuccess's output): `output` only when the plan set it."""
        return self.model_dump(by_alias=True, exclude_none=True)


class JobAttempt(BaseModel):
    """RunJob: one attempt of one job, answered with the task token (the worker protocol)."""

    model_config = MESSAGE_CONFIG

    job: WorkJob
    attempt: int = Field(1, ge=1)  # States.MathAdd($$.State.RetryCount, 1)
    heartbeat_seconds: float = Field(300, alias="heartbeatSeconds", gt=0)
    task_token: str = Field(alias="taskToken", min_length=1, repr=False)


class PredictionCheck(BaseModel):
    """A provider's callback or the poller: look at this prediction now (providers.checks.check_message)."""

    model_config = MESSAGE_CONFIG

    prediction: str = Field(min_length=1)


def _work_kind(body: Any) -> str:
    return "check" if isinstance(body, dict) and "prediction" in body else "attempt"


WorkMessage = Annotated[
    Annotated[JobAttempt, Tag("attempt")] | Annotated[PredictionCheck, Tag("check")], Discriminator(_work_kind)
]


class WorkRecord(SqsRecordModel):
    """A WorkQueue or MediaQueue record whose body is a job attempt or a prediction check."""

    model_config = ConfigDict(hide_input_in_errors=True)

    body: Annotated[WorkMessage, BeforeValidator(json_body)]  # the text, parsed and validated
