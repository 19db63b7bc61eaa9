"""template.yaml, webhook delivery: least privilege, the stream filter, queues with a dead-letter queue, alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from execution_api.storage.stream import item_change
from execution_api.webhooks.delivery import is_terminal_transition
from local.template import Template
from tests.test_template import grants, statements

TEMPLATE = Template()
ENQUEUE, SENDER = "WebhookEnqueueFunction", "WebhookSenderFunction"


def test_the_enqueue_function_only_claims_and_queues() -> None:
    assert grants(ENQUEUE) == {
        "ExecutionsTable": {"dynamodb:UpdateItem"},
        "WebhookDeliveryQueue": {"sqs:SendMessage"},
    }


def test_the_sender_reads_and_records_on_the_table_queues_and_decrypts() -> None:
    assert grants(SENDER) == {
        "ExecutionsTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "WebhookDeliveryQueue": {"sqs:SendMessage"},
        "CredentialKey": {"kms:Decrypt"},
        "${OutputsBucket.Arn}/*": {"s3:GetObject"},  # presigns the result's output in the payload
    }


def test_the_sender_decrypts_only_under_an_execution_id_context() -> None:
    [kms] = [s for s in statements(SENDER) if s["Action"] == "kms:Decrypt"]
    assert kms["Condition"]["Null"] == {"kms:EncryptionContext:executionId": "false"}
    assert kms["Condition"]["ForAllValues:StringEquals"] == {"kms:EncryptionContextKeys": ["executionId"]}


# The sender opens webhook secrets; the engine's worker opens the job credentials sealed at intake and each
# prediction's task token and key. The provider callback has no API key in front of it: it opens a prediction's
# Replicate signing secret, sealed under its own purpose, and nothing sealed under the execution alone.
DECRYPTERS = {SENDER, "WorkerFunction", "MediaWorkerFunction"}
CALLBACK = "ProviderCallbackFunction"
EXECUTION_CONTEXT = {
    "Null": {"kms:EncryptionContext:executionId": "false"},
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["executionId"]},
}
REPLICATE_WEBHOOK_CONTEXT = {
    "StringEquals": {"kms:EncryptionContext:purpose": "replicate-webhook"},
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["executionId", "purpose"]},
    "Null": {"kms:EncryptionContext:executionId": "false"},
}
# A tenant's stored provider key is sealed under (tenantId, provider); only the workers open it.
TENANT_KEY_CONTEXT = {
    "Null": {"kms:EncryptionContext:tenantId": "false"},
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenantId", "provider"]},
}


def test_only_the_sender_the_workers_and_the_callback_can_decrypt_and_only_under_a_context() -> None:
    for function, resource in TEMPLATE.of_type("AWS::Serverless::Function").items():
        policies = resource["Properties"].get("Policies", [])
        templates = [name for policy in policies if "Statement" not in policy for name in policy]
        assert not [name for name in templates if "KMS" in name], function  # no SAM KMS policy templates
        inline = [s for policy in policies if "Statement" in policy for s in policy["Statement"]]
        actions = {a for s in inline for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert ("kms:Decrypt" in actions) == (function in DECRYPTERS | {CALLBACK}), function
        assert not any(a.startswith("kms:") and "*" in a for a in actions), function
        contexts = [s["Condition"] for s in inline if s["Action"] == "kms:Decrypt"]
        assert (EXECUTION_CONTEXT in contexts) == (function in DECRYPTERS), function
        workers = {"WorkerFunction", "MediaWorkerFunction"}
        allowed = [EXECUTION_CONTEXT, TENANT_KEY_CONTEXT] if function in workers else [EXECUTION_CONTEXT]
        if function == CALLBACK:
            allowed = [REPLICATE_WEBHOOK_CONTEXT]
        assert all(context in allowed for context in contexts), function


def test_the_callback_decrypts_only_replicates_signing_secret() -> None:
    # ForAllValues alone would also pass a request with {executionId} only (every key it has is listed): the
    # StringEquals on purpose is what keeps task tokens, API keys and intake credentials closed to it.
    [kms] = [s for s in statements(CALLBACK) if s["Action"] == "kms:Decrypt"]
    assert kms["Condition"] == REPLICATE_WEBHOOK_CONTEXT


def test_every_webhook_statement_is_scoped_to_one_resource() -> None:
    for function in (ENQUEUE, SENDER):
        for statement in statements(function):
            # One resource each: a table, queue or key, or the objects of the outputs bucket.
            resource = statement["Resource"]
            assert set(resource) == {"Fn::GetAtt"} or resource == {"Fn::Sub": "${OutputsBucket.Arn}/*"}, statement
            assert statement["Effect"] == "Allow"


def test_the_sender_gets_the_key_queue_and_schedule() -> None:
    variables = TEMPLATE.resources[SENDER]["Properties"]["Environment"]["Variables"]
    assert variables["CREDENTIAL_KEY_ID"] == {"Fn::GetAtt": ["CredentialKey", "Arn"]}
    assert variables["WEBHOOK_QUEUE_URL"] == {"Ref": "WebhookDeliveryQueue"}
    assert variables["WEBHOOK_RETRY_SCHEDULE"] == "5,300,1800,7200,18000,36000,36000"
    assert variables["WEBHOOK_TIMEOUT_SECONDS"] == "10"
    globals_ = TEMPLATE.document["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_["ALLOW_INSECURE_WEBHOOKS"] == "false"


def test_the_sender_consumes_the_queue_with_partial_batch_failures() -> None:
    properties = TEMPLATE.resources[SENDER]["Properties"]
    [event] = properties["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["WebhookDeliveryQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # A batch of attempts of 10 s each fits in the function's time, which fits in the queue's visibility
    timeout = properties["Timeout"]
    assert event["Properties"]["BatchSize"] * 10 < timeout
    queue = TEMPLATE.resources["WebhookDeliveryQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_failed_messages_and_stream_batches_are_kept_in_a_dead_letter_queue() -> None:
    queue = TEMPLATE.resources["WebhookDeliveryQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
    assert TEMPLATE.resources["WebhookDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    [stream] = TEMPLATE.resources[ENQUEUE]["Properties"]["Events"].values()
    assert stream["Properties"]["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]},
    }


def test_given_up_deliveries_raise_an_alarm_on_the_senders_metric() -> None:
    alarm = TEMPLATE.resources["WebhookDeliveryGivenUpAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("ExecutionApi", "WebhookDeliveryGivenUp")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "execution-api"}]
    globals_ = TEMPLATE.document["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_["POWERTOOLS_METRICS_NAMESPACE"] == "ExecutionApi"
    assert globals_["POWERTOOLS_SERVICE_NAME"] == "execution-api"


def test_the_table_streams_both_images() -> None:
    table = TEMPLATE.resources["ExecutionsTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


# ---- the stream filter: the template's pattern and the handler's own test agree


def matches(pattern: Any, value: Any) -> bool:
    """The subset of Lambda's event filtering the template uses: value lists, exists, anything-but, prefix."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(sub, value.get(key, _MISSING)) for key, sub in pattern.items())
    for option in pattern:
        if isinstance(option, dict) and "exists" in option:
            if (value is not _MISSING) == option["exists"]:
                return True
        elif isinstance(option, dict) and "anything-but" in option:
            if value is not _MISSING and value not in option["anything-but"]:
                return True
        elif isinstance(option, dict) and "prefix" in option:
            if isinstance(value, str) and value.startswith(option["prefix"]):
                return True
        elif value == option:
            return True
    return False


_MISSING = object()


def stream_filters() -> list[dict[str, Any]]:
    [event] = TEMPLATE.resources[ENQUEUE]["Properties"]["Events"].values()
    return [json.loads(f["Pattern"]) for f in event["Properties"]["FilterCriteria"]["Filters"]]


def record(event_name: str, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    def image(values: dict[str, Any]) -> dict[str, Any]:
        return {name: {"BOOL": value} if isinstance(value, bool) else {"S": value} for name, value in values.items()}

    change: dict[str, Any] = {"Keys": image({"pk": new["pk"], "sk": new["sk"]}), "NewImage": image(new)}
    if old is not None:
        change["OldImage"] = image(old)
    return {"eventName": event_name, "dynamodb": change}


EXECUTION = {"pk": "TENANT#t#EXECUTION#e", "sk": "EXECUTION", "webhookUrl": "https://example.com/h"}
JOB = {"pk": "TENANT#t#EXECUTION#e", "sk": "JOB#a", "jobWebhook": True}


@pytest.mark.parametrize(
    ("event_name", "old", "new", "expected"),
    [
        ("MODIFY", {**EXECUTION, "status": "processing"}, {**EXECUTION, "status": "completed"}, True),
        ("MODIFY", {**EXECUTION, "status": "pending"}, {**EXECUTION, "status": "cancelled"}, True),
        ("MODIFY", {**EXECUTION, "status": "processing"}, {**EXECUTION, "status": "failed"}, True),
        # the delivery's own updates of an ended execution
        ("MODIFY", {**EXECUTION, "status": "completed"}, {**EXECUTION, "status": "completed"}, False),
        ("MODIFY", {**EXECUTION, "status": "pending"}, {**EXECUTION, "status": "processing"}, False),
        ("INSERT", None, {**EXECUTION, "status": "completed"}, False),
        # no webhook URL
        (
            "MODIFY",
            {"pk": EXECUTION["pk"], "sk": "EXECUTION", "status": "processing"},
            {"pk": EXECUTION["pk"], "sk": "EXECUTION", "status": "completed"},
            False,
        ),
        # a job item that asked for no webhook of its own
        (
            "MODIFY",
            {**EXECUTION, "sk": "JOB#a", "status": "processing"},
            {**EXECUTION, "sk": "JOB#a", "status": "failed"},
            False,
        ),
        # a job item that asked for its own (params.sendJobWebhook): when it ends, and only then
        ("MODIFY", {**JOB, "status": "processing"}, {**JOB, "status": "completed"}, True),
        ("MODIFY", {**JOB, "status": "pending"}, {**JOB, "status": "cancelled"}, True),
        ("MODIFY", {**JOB, "status": "pending"}, {**JOB, "status": "processing"}, False),
        ("MODIFY", {**JOB, "status": "failed"}, {**JOB, "status": "failed"}, False),
        ("MODIFY", {**JOB, "status": "processing"}, {**JOB, "status": "completed", "jobWebhook": False}, False),
    ],
)
def test_the_stream_filter_passes_exactly_an_execution_or_a_job_ending_with_a_webhook(
    event_name: str, old: dict[str, Any] | None, new: dict[str, Any], expected: bool
) -> None:
    assert any(matches(pattern, record(event_name, old, new)) for pattern in stream_filters()) is expected
    handler_says = event_name == "MODIFY" and is_terminal_transition(item_change(record(event_name, old, new)))
    assert handler_says is expected
