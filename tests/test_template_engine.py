"""template.yaml's engine: one state machine from its own definition file, queues with dead-letter
queues, the stream that starts it, and least privilege for every function that takes part."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.template import ROOT, Template
from tests.test_template import statements

TEMPLATE = Template()
RESOURCES = TEMPLATE.resources


def actions(statement: dict[str, Any]) -> set[str]:
    listed = statement["Action"]
    return {listed} if isinstance(listed, str) else set(listed)


def inline(function: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for policy in RESOURCES[function]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []):
            resource = statement["Resource"]
            sub = resource.get("Fn::Sub")
            sub = sub[0] if isinstance(sub, list) else sub  # !Sub [text, {variables}]: the text
            key = resource.get("Fn::GetAtt", [None])[0] or resource.get("Ref") or sub
            found.setdefault(key, set()).update(actions(statement))
    return found


def templates_of(function: str) -> list[dict[str, Any]]:
    return [p for p in RESOURCES[function]["Properties"]["Policies"] if "Statement" not in p]


EXECUTION_ARNS = (
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${ExecutionStateMachine.Name}:*"
)


def test_the_state_machine_definition_lives_in_its_own_file_with_substitutions() -> None:
    machine = RESOURCES["ExecutionStateMachine"]["Properties"]
    assert machine["Type"] == "STANDARD"
    text = (ROOT / machine["DefinitionUri"]).read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(machine["DefinitionSubstitutions"])
    # Valid JSON once substituted, with no Lambda task (moto needs Docker for those; SQS callbacks run everywhere)
    definition = json.loads(re.sub(r"\$\{\w+\}", "1", text))
    resources = re.findall(r'"Resource": "([^"]+)"', json.dumps(definition, indent=0))
    assert len(resources) == 5  # gate, run, two records, finish
    assert set(resources) == {"arn:aws:states:::sqs:sendMessage.waitForTaskToken"}
    assert definition["TimeoutSeconds"] == 1  # ${ExecutionTimeoutSeconds}
    assert machine["DefinitionSubstitutions"]["ExecutionTimeoutSeconds"] == {"Ref": "ExecutionTimeoutSeconds"}


def test_job_attempts_become_retries() -> None:
    mapping = TEMPLATE.document["Mappings"]["JobAttempts"]
    assert {int(k): v["Retries"] for k, v in mapping.items()} == {n: n - 1 for n in range(1, 11)}
    assert TEMPLATE.document["Parameters"]["JobMaxAttempts"]["Default"] == "3"


def test_the_state_machine_may_only_send_to_its_three_queues() -> None:
    policies = RESOURCES["ExecutionStateMachine"]["Properties"]["Policies"]
    assert policies == [
        {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["EngineQueue", "QueueName"]}}},
        {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["WorkQueue", "QueueName"]}}},
        {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["MediaQueue", "QueueName"]}}},
        {  # AllowedOperations' queue, where the stack has one
            "Fn::If": [
                "HasCustomOperations",
                {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["CustomQueue", "QueueName"]}}},
                {"Ref": "AWS::NoValue"},
            ]
        },
    ]


def test_custom_operations_get_their_own_queue_only_when_allowed_operations_names_some() -> None:
    conditions = TEMPLATE.document["Conditions"]
    assert conditions["HasCustomOperations"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AllowedOperations"}, ""]}]}
    for name in ("CustomQueue", "CustomDeadLetterQueue", "CustomDeadLettersAlarm"):
        assert RESOURCES[name]["Condition"] == "HasCustomOperations", name
    # no function of this stack consumes it: the custom worker is the operator's own
    for function in TEMPLATE.of_type("AWS::Serverless::Function").values():
        for event in function["Properties"].get("Events", {}).values():
            assert event["Properties"].get("Queue") != {"Fn::GetAtt": ["CustomQueue", "Arn"]}
    engine = RESOURCES["EngineFunction"]["Properties"]["Environment"]["Variables"]
    assert engine["CUSTOM_QUEUE_URL"] == {"Fn::If": ["HasCustomOperations", {"Ref": "CustomQueue"}, ""]}
    outputs = TEMPLATE.document["Outputs"]
    assert outputs["CustomQueueUrl"]["Condition"] == outputs["CustomQueueArn"]["Condition"] == "HasCustomOperations"


def test_every_engine_queue_has_a_dead_letter_queue_and_encryption() -> None:
    for queue, dead_letter in (
        ("EngineQueue", "EngineDeadLetterQueue"),
        ("WorkQueue", "WorkDeadLetterQueue"),
        ("MediaQueue", "MediaDeadLetterQueue"),
        ("CustomQueue", "CustomDeadLetterQueue"),
    ):
        props = RESOURCES[queue]["Properties"]
        assert props["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dead_letter, "Arn"]}
        assert props["SqsManagedSseEnabled"] is True
        assert RESOURCES[dead_letter]["Properties"]["MessageRetentionPeriod"] == 1209600


def test_new_execution_items_start_the_engine_through_the_stream() -> None:
    assert RESOURCES["ExecutionsTable"]["Properties"]["StreamSpecification"] == {
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    }  # the webhook consumer reads the old image too
    event = RESOURCES["StarterFunction"]["Properties"]["Events"]["ExecutionInserted"]
    assert event["Type"] == "DynamoDB"
    props = event["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["ExecutionsTable", "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["StarterDeadLetterQueue", "Arn"]}
    [pattern] = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"sk": {"S": ["EXECUTION"]}}}}


def test_queue_consumers_report_partial_batch_failures() -> None:
    for function, queue in (
        ("EngineFunction", "EngineQueue"),
        ("WorkerFunction", "WorkQueue"),
        ("MediaWorkerFunction", "MediaQueue"),
    ):
        [event] = [e for e in RESOURCES[function]["Properties"]["Events"].values() if e["Type"] == "SQS"]
        assert event["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # one job per worker invocation, so jobs never wait for each other inside a batch
    assert RESOURCES["WorkerFunction"]["Properties"]["Events"]["Jobs"]["Properties"]["BatchSize"] == 1
    assert RESOURCES["MediaWorkerFunction"]["Properties"]["Events"]["Jobs"]["Properties"]["BatchSize"] == 1


def test_the_starter_reads_jobs_starts_runs_and_stops_only_its_own() -> None:
    assert inline("StarterFunction") == {
        "ExecutionsTable": {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem"},
        EXECUTION_ARNS: {"states:StopExecution"},
    }
    assert templates_of("StarterFunction") == [
        {"StepFunctionsExecutionPolicy": {"StateMachineName": {"Fn::GetAtt": ["ExecutionStateMachine", "Name"]}}}
    ]


def test_the_engine_function_answers_tokens_of_its_state_machine_only() -> None:
    assert inline("EngineFunction") == {
        "ExecutionsTable": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem"},
        "ExecutionStateMachine": {"states:SendTaskSuccess", "states:SendTaskFailure"},
    }


@pytest.mark.parametrize("worker", ["WorkerFunction", "MediaWorkerFunction"])
def test_the_workers_claim_report_store_outputs_and_decrypt_only_with_an_execution_context(worker: str) -> None:
    assert inline(worker) == {
        # Claims attempts; records, finds and settles provider predictions (docs/providers.md).
        "ExecutionsTable": {"dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:PutItem"},
        "ExecutionStateMachine": {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"},
        "CredentialKey": {"kms:Decrypt", "kms:Encrypt"},
        "${OutputsBucket.Arn}/*": {"s3:PutObject", "s3:GetObject"},
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}*": {
            "secretsmanager:GetSecretValue"
        },
    }
    contexts = [s["Condition"] for s in statements(worker) if s["Action"] in ("kms:Decrypt", "kms:Encrypt")]
    by_execution = {
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["executionId"]},
        "Null": {"kms:EncryptionContext:executionId": "false"},
    }
    by_tenant_key = {
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenantId", "provider"]},
        "Null": {"kms:EncryptionContext:tenantId": "false"},
    }
    # Replicate's signing secret is sealed apart, under its purpose: the callback route opens that alone.
    by_purpose = {
        "StringEquals": {"kms:EncryptionContext:purpose": "replicate-webhook"},
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["executionId", "purpose"]},
        "Null": {"kms:EncryptionContext:executionId": "false"},
    }
    # Sealed credentials and predictions open only under their execution; stored keys under their tenant.
    assert contexts.count(by_execution) == 2
    assert contexts.count(by_tenant_key) == 1
    assert [s["Action"] for s in statements(worker) if s.get("Condition") == by_purpose] == ["kms:Encrypt"]
    assert len(contexts) == 4


def test_cancel_writes_the_table_stops_runs_of_its_state_machine_and_sends_checks_only() -> None:
    # The checks of its jobs' predictions go to the work queue: the worker cancels them, so the cancel route
    # holds no KMS right and no provider key.
    assert inline("CancelExecutionFunction") == {
        "ExecutionsTable": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"},
        EXECUTION_ARNS: {"states:StopExecution"},
        "ExecutionStateMachine": {"states:SendTaskFailure"},
        "WorkQueue": {"sqs:SendMessage"},
    }
    variables = RESOURCES["CancelExecutionFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["WORK_QUEUE_URL"] == {"Ref": "WorkQueue"}
    assert not any("KEY" in name or "SECRET" in name for name in variables)


def test_timeouts_and_runs_that_end_early_reach_the_engine() -> None:
    event = RESOURCES["EngineFunction"]["Properties"]["Events"]["StateMachineEnded"]
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.states"]
    assert set(pattern["detail"]["status"]) == {"TIMED_OUT", "FAILED", "ABORTED"}
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "ExecutionStateMachine"}]


def test_no_engine_statement_is_unscoped() -> None:
    for function in ("StarterFunction", "EngineFunction", "WorkerFunction", "CancelExecutionFunction"):
        for policy in RESOURCES[function]["Properties"]["Policies"]:
            for statement in policy.get("Statement", []):
                assert statement["Resource"] != "*", (function, statement)


def test_run_job_waits_the_timeout_the_gate_gave_the_job_and_both_timeouts_reach_the_engine() -> None:
    machine = RESOURCES["ExecutionStateMachine"]["Properties"]
    definition = json.loads(re.sub(r"\$\{\w+\}", "1", (ROOT / machine["DefinitionUri"]).read_text()))
    states = definition["States"]["RunJobs"]["ItemProcessor"]["States"]
    assert states["WaitForDependencies"]["ResultPath"] == "$.job"  # the gate answer, with timeoutSeconds
    run_job = states["RunJob"]
    assert run_job["TimeoutSecondsPath"] == "$.job.timeoutSeconds"
    assert run_job["HeartbeatSecondsPath"] == "$.config.heartbeatSeconds"  # one heartbeat, below both timeouts
    assert "TimeoutSeconds" not in run_job
    parameters = TEMPLATE.document["Parameters"]
    assert parameters["ProviderJobTimeoutSeconds"]["Default"] == 3600  # a long video's prediction
    assert parameters["JobTimeoutSeconds"]["Default"] == 900
    for function in ("StarterFunction", "EngineFunction"):  # the heartbeat's bound; the gate answer's figures
        variables = RESOURCES[function]["Properties"]["Environment"]["Variables"]
        assert variables["JOB_TIMEOUT_SECONDS"] == {"Ref": "JobTimeoutSeconds"}
        assert variables["PROVIDER_JOB_TIMEOUT_SECONDS"] == {"Ref": "ProviderJobTimeoutSeconds"}
