"""template.yaml: what production operation needs (docs/deployment.md): alarms to a topic, access logs with the
account's logging role, deletion protection, names scoped by the stack, no responses in traces, JSON logs."""

from __future__ import annotations

import json
import re
from typing import Any

from local.template import Template

TEMPLATE = Template()
RESOURCES = TEMPLATE.resources
FUNCTIONS = ("SubmitExecutionFunction", "ExecutionStatusFunction", "AuthorizerFunction")
TABLES = ("ExecutionsTable", "ApiKeysTable", "IdempotencyTable")


def alarms() -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in TEMPLATE.of_type("AWS::CloudWatch::Alarm").items()}


def watched(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, dimensions) of every metric an alarm reads, plain or in metric math."""
    if "MetricName" in alarm:
        found = [(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", []))]
    else:
        found = [
            (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
             m["MetricStat"]["Metric"].get("Dimensions", []))
            for m in alarm["Metrics"]
            if "MetricStat" in m
        ]  # fmt: skip
    return [(ns, metric, {d["Name"]: d["Value"] for d in dims}) for ns, metric, dims in found]


def alarms_on(namespace: Any, metric: str, **dimensions: Any) -> list[str]:
    return [
        name
        for name, alarm in alarms().items()
        for ns, watched_metric, dims in watched(alarm)
        if ns == namespace and watched_metric == metric and all(dims.get(k) == v for k, v in dimensions.items())
    ]


def test_every_alarm_notifies_the_stacks_topic_or_the_one_given() -> None:
    parameter = TEMPLATE.document["Parameters"]["AlarmTopicArn"]
    assert parameter["Default"] == ""  # a first deploy makes its own topic
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:sns:eu-west-1:123456789012:ops-alerts")
    assert TEMPLATE.document["Conditions"]["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    assert RESOURCES["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert "TopicName" not in RESOURCES["AlarmTopic"]["Properties"]  # no fixed name to collide on a second try
    topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
    assert len(alarms()) >= 30
    for name, alarm in alarms().items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [topic], name  # never nobody
        assert alarm["TreatMissingData"] == "notBreaching", name  # no traffic is not an incident
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name


def test_api_5xx_and_p99_latency_are_alarmed_for_this_api_and_stage() -> None:
    api = {"ApiName": {"Ref": "AWS::StackName"}, "Stage": {"Ref": "Stage"}}
    assert RESOURCES["ExecutionApi"]["Properties"]["Name"] == {"Ref": "AWS::StackName"}
    assert alarms_on("AWS/ApiGateway", "5XXError", **api)
    [latency] = alarms_on("AWS/ApiGateway", "Latency", **api)
    assert alarms()[latency]["ExtendedStatistic"] == "p99"
    assert alarms()[latency]["Threshold"] == {"Ref": "ApiLatencyP99AlarmMs"}


def test_lambda_errors_and_throttles_are_alarmed_per_function() -> None:
    for function in FUNCTIONS:
        assert alarms_on("AWS/Lambda", "Throttles", FunctionName={"Ref": function}), function
    for function in ("SubmitExecutionFunction", "ExecutionStatusFunction"):
        assert alarms_on("AWS/Lambda", "Errors", FunctionName={"Ref": function}), function
    # Refusing a bad key is a Lambda error by design (how a TOKEN authorizer says 401): not an alarm.
    assert not alarms_on("AWS/Lambda", "Errors", FunctionName={"Ref": "AuthorizerFunction"})


def test_authorizer_failures_are_counted_from_the_access_log_and_alarmed() -> None:
    [metric_filter] = TEMPLATE.of_type("AWS::Logs::MetricFilter").values()
    props = metric_filter["Properties"]
    assert props["LogGroupName"] == {"Ref": "ApiAccessLogGroup"}
    assert "AUTHORIZER_FAILURE" in props["FilterPattern"]
    assert "AUTHORIZER_CONFIGURATION_ERROR" in props["FilterPattern"]
    [transformation] = props["MetricTransformations"]
    assert alarms_on(transformation["MetricNamespace"], transformation["MetricName"]) == ["AuthorizerFailuresAlarm"]


def test_dynamodb_throttles_are_alarmed_per_table() -> None:
    for table in TABLES:
        assert alarms_on("AWS/DynamoDB", "ReadThrottleEvents", TableName={"Ref": table}), table
        assert alarms_on("AWS/DynamoDB", "WriteThrottleEvents", TableName={"Ref": table}), table


def test_access_logs_are_json_lines_in_a_stack_scoped_group() -> None:
    api = RESOURCES["ExecutionApi"]["Properties"]
    setting = api["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    # API Gateway substitutes $context values into the string; with placeholders filled it is one JSON object.
    line = json.loads(re.sub(r"\$context\.[\w.]+", "x", setting["Format"]))
    assert {"requestId", "status", "tenantId", "errorType", "responseLatency"} <= set(line)
    assert '$context.identity.apiKey"' not in setting["Format"]  # the key's id only, never its value
    group = RESOURCES["ApiAccessLogGroup"]["Properties"]
    assert group["LogGroupName"]["Fn::Sub"].startswith("/aws/apigateway/${AWS::StackName}")
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_account_logging_role_is_optional_retained_and_awaited() -> None:
    condition = "CreateApiGatewayAccount"
    assert TEMPLATE.document["Parameters"]["CreateApiGatewayAccountRole"]["AllowedValues"] == ["true", "false"]
    account = RESOURCES["ApiGatewayAccount"]
    role = RESOURCES["ApiGatewayCloudWatchRole"]
    assert account["Condition"] == role["Condition"] == condition
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    # One setting for the whole account and region: deleting this stack must not break other APIs' logs.
    assert role["DeletionPolicy"] == account["DeletionPolicy"] == "Retain"
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    # The stage waits for the setting when this stack makes it (a DependsOn on a conditional resource is invalid).
    assert RESOURCES["ExecutionApi"]["DependsOn"] == "ApiGatewayAccountReady"
    assert RESOURCES["ApiGatewayAccountReady"]["Metadata"]["AccountSetting"] == {
        "Fn::If": [condition, {"Ref": "ApiGatewayAccount"}, ""]
    }


def test_retained_tables_have_deletion_protection() -> None:
    retained = [name for name in TABLES if RESOURCES[name].get("DeletionPolicy") == "Retain"]
    assert set(retained) == {"ExecutionsTable", "ApiKeysTable"}
    for name in retained:
        assert RESOURCES[name]["Properties"]["DeletionProtectionEnabled"] is True, name


# Pinned on purpose: a retained resource whose logical id changes in a deployed stack is orphaned, and
# CloudFormation makes a new one (a new KMS key cannot open what the old one sealed). Change this list only
# together with a migration written in docs/deployment.md.
RETAINED = {
    "ExecutionsTable",
    "ApiKeysTable",
    "CredentialKey",
    "OutputsBucket",
    "ApiGatewayCloudWatchRole",
    "ApiGatewayAccount",
}


def test_the_retained_resources_keep_their_logical_ids_and_are_documented() -> None:
    retained = {name for name, resource in RESOURCES.items() if resource.get("DeletionPolicy") == "Retain"}
    assert retained == RETAINED
    for name in retained:
        assert RESOURCES[name].get("UpdateReplacePolicy") == "Retain", name
    deployment = (TEMPLATE.path.parent / "docs" / "deployment.md").read_text()
    assert all(f"`{name}`" in deployment for name in retained)


def test_names_are_scoped_by_the_stack() -> None:
    alias = RESOURCES["CredentialKeyAlias"]["Properties"]["AliasName"]["Fn::Sub"]
    assert alias.startswith("alias/${AWS::StackName}-")
    for name, group in TEMPLATE.of_type("AWS::Logs::LogGroup").items():
        assert "${AWS::StackName}" in group["Properties"]["LogGroupName"]["Fn::Sub"], name


def test_traces_never_record_responses() -> None:
    variables = TEMPLATE.document["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


def test_functions_log_json_at_the_log_level_parameter() -> None:
    levels = TEMPLATE.document["Mappings"]["LambdaLogLevels"]
    # Every LogLevel value maps to one Lambda accepts (it says WARN where Python says WARNING).
    allowed = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
    for value in TEMPLATE.document["Parameters"]["LogLevel"]["AllowedValues"]:
        assert levels[value]["Level"] in allowed, value
    for function in FUNCTIONS:
        config = RESOURCES[function]["Properties"]["LoggingConfig"]
        assert config["LogFormat"] == "JSON", function
        assert config["ApplicationLogLevel"] == {"Fn::FindInMap": ["LambdaLogLevels", {"Ref": "LogLevel"}, "Level"]}
        assert config["LogGroup"]["Ref"].endswith("LogGroup"), function


def test_the_api_is_regional() -> None:
    assert RESOURCES["ExecutionApi"]["Properties"]["EndpointConfiguration"] == {"Type": "REGIONAL"}
