"""template.yaml: the failure paths are watched and the API keeps its capacity (docs/deployment.md, "Alarms",
"Isolation"): rules over every function, queue and gateway response, so a new worker or queue that
skips one fails here, naming it."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from execution_api.api.cors import CORS_EXPOSE_HEADERS
from local.template import Template

TEMPLATE = Template()
RESOURCES = TEMPLATE.resources
PARAMETERS = TEMPLATE.document["Parameters"]
CONDITIONS = TEMPLATE.document["Conditions"]
FUNCTIONS = TEMPLATE.of_type("AWS::Serverless::Function")
# Every function API Gateway invokes: the authorizer and each function with an Api event (a new route counts).
API_FUNCTIONS = sorted(
    {"AuthorizerFunction"}
    | {
        name
        for name, function in FUNCTIONS.items()
        if any(event["Type"] == "Api" for event in function["Properties"].get("Events", {}).values())
    }
)
# Webhook attempts wait in their queue on purpose (DelaySeconds): its age says nothing; its dead letters do.
DELAYED_BY_DESIGN = {"WebhookDeliveryQueue"}


def alarms() -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in TEMPLATE.of_type("AWS::CloudWatch::Alarm").items()}


def alarmed(metric: str, dimension: str, value: Any) -> list[str]:
    """Plain (not metric-math) alarms on `metric` whose dimension `dimension` is `value`."""
    return [
        name
        for name, alarm in alarms().items()
        if alarm.get("MetricName") == metric and {"Name": dimension, "Value": value} in alarm.get("Dimensions", [])
    ]


def queue_of(arn: Any) -> str:
    """The logical id of a queue named by `!GetAtt Queue.Arn`."""
    assert arn["Fn::GetAtt"][1] == "Arn", arn
    name: str = arn["Fn::GetAtt"][0]
    assert RESOURCES[name]["Type"] == "AWS::SQS::Queue", name
    return name


def dead_letter_queues() -> set[str]:
    """Every queue something fails into: redrive targets, stream and async on-failure destinations, rule DLQs."""
    found = {
        queue_of(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in TEMPLATE.of_type("AWS::SQS::Queue").values()
        if "RedrivePolicy" in q.get("Properties", {})
    }
    for function in FUNCTIONS.values():
        props = function["Properties"]
        if "EventInvokeConfig" in props:
            found.add(queue_of(props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]))
        for event in props.get("Events", {}).values():
            if "DestinationConfig" in event["Properties"]:
                found.add(queue_of(event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]))
            if "DeadLetterConfig" in event["Properties"]:
                found.add(queue_of(event["Properties"]["DeadLetterConfig"]["Arn"]))
    return found


def events_of(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, event["Properties"])
        for name, function in FUNCTIONS.items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == kind
    ]


def test_every_dead_letter_queue_raises_an_alarm_on_its_first_message() -> None:
    queues = dead_letter_queues()
    assert {"StarterDeadLetterQueue", "EngineDeadLetterQueue", "WorkDeadLetterQueue"} <= queues
    assert {"StatusChangeDeadLetterQueue", "AsyncFailureQueue", "WebhookDeadLetterQueue"} <= queues
    for queue in queues:
        [name] = alarmed("ApproximateNumberOfMessagesVisible", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]})
        alarm = alarms()[name]
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Maximum",
            1,
            "GreaterThanOrEqualToThreshold",
        ), queue


def test_every_function_but_the_authorizer_raises_an_alarm_on_errors() -> None:
    # The authorizer's 401 is a Lambda error by design; its failures are counted from the access log.
    for function in set(FUNCTIONS) - {"AuthorizerFunction"}:
        assert alarmed("Errors", "FunctionName", {"Ref": function}), function


def test_every_api_function_raises_an_alarm_when_throttled() -> None:
    for function in API_FUNCTIONS:
        assert alarmed("Throttles", "FunctionName", {"Ref": function}), function


def test_every_stream_consumer_raises_an_alarm_when_it_falls_behind() -> None:
    consumers = {name for name, _ in events_of("DynamoDB")}
    assert consumers == {"StarterFunction", "WebhookEnqueueFunction"}
    for function in consumers:
        [name] = alarmed("IteratorAge", "FunctionName", {"Ref": function})
        assert alarms()[name]["Statistic"] == "Maximum"


def test_every_queue_a_function_drains_raises_an_alarm_when_its_oldest_message_waits_too_long() -> None:
    for _, event in events_of("SQS"):
        queue = queue_of(event["Queue"])
        if queue not in DELAYED_BY_DESIGN:
            assert alarmed("ApproximateAgeOfOldestMessage", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]}), queue
    [work] = alarmed("ApproximateAgeOfOldestMessage", "QueueName", {"Fn::GetAtt": ["WorkQueue", "QueueName"]})
    assert alarms()[work]["Threshold"] == {"Ref": "WorkQueueAgeAlarmSeconds"}


def test_failed_and_timed_out_executions_raise_alarms() -> None:
    machine = {"Ref": "ExecutionStateMachine"}
    assert alarmed("ExecutionsFailed", "StateMachineArn", machine)
    assert alarmed("ExecutionsTimedOut", "StateMachineArn", machine)


def test_every_sqs_event_source_is_capped_by_its_own_parameter() -> None:
    sources = events_of("SQS")
    assert len(sources) >= 3
    for function, event in sources:
        cap = event["ScalingConfig"]["MaximumConcurrency"]
        parameter = PARAMETERS[cap["Ref"]]  # a figure the operator sets, not a constant
        # Lambda's bounds for MaximumConcurrency.
        assert (parameter["Type"], parameter["MinValue"], parameter["MaxValue"]) == ("Number", 2, 1000), function


def test_api_functions_reserve_concurrency_only_when_asked() -> None:
    assert PARAMETERS["ApiReservedConcurrency"]["Default"] == 0  # new accounts cannot spare any
    assert CONDITIONS["ReserveApiConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiReservedConcurrency"}, "0"]}]
    }
    for function in API_FUNCTIONS:
        assert FUNCTIONS[function]["Properties"]["ReservedConcurrentExecutions"] == {
            "Fn::If": ["ReserveApiConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
        }, function


def test_every_asynchronously_invoked_function_keeps_its_failures() -> None:
    asynchronous = {name for kind in ("Schedule", "EventBridgeRule") for name, _ in events_of(kind)}
    assert asynchronous == {"SweeperFunction", "PredictionPollerFunction", "EngineFunction"}
    for function in asynchronous:
        config = FUNCTIONS[function]["Properties"]["EventInvokeConfig"]
        assert config["DestinationConfig"]["OnFailure"]["Type"] == "SQS", function
    for _, rule in events_of("EventBridgeRule"):
        assert rule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["StatusChangeDeadLetterQueue", "Arn"]}}
    [statement] = RESOURCES["StatusChangeDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"


def test_the_alarm_topic_takes_an_email_and_only_this_accounts_alarms() -> None:
    assert PARAMETERS["AlarmEmail"]["Default"] == ""
    # (local/template.py's loader spells !Condition as Fn::Condition)
    assert CONDITIONS["SubscribeAlarmEmail"] == {
        "Fn::And": [{"Fn::Condition": "CreateAlarmTopic"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}]
    }
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "SubscribeAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    [statement] = RESOURCES["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# ---- CORS on API Gateway's own answers


def evaluate(expression: Any, parameters: dict[str, str]) -> Any:
    """CloudFormation's condition functions, as far as OneCorsOrigin uses them."""
    if isinstance(expression, str | int):
        return expression
    [(function, argument)] = expression.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Condition":
        return evaluate(CONDITIONS[argument], parameters)
    values = [evaluate(a, parameters) for a in argument] if isinstance(argument, list) else argument
    operations = {
        "Fn::And": lambda: all(values),
        "Fn::Not": lambda: not values[0],
        "Fn::Equals": lambda: values[0] == values[1],
        "Fn::Split": lambda: values[1].split(values[0]),
        "Fn::Select": lambda: values[1][int(values[0])],
    }
    return operations[function]()


@given(st.lists(st.from_regex(r"https://[a-z]{1,8}\.example", fullmatch=True), max_size=3))
def test_one_cors_origin_means_a_non_empty_setting_without_a_comma(origins: list[str]) -> None:
    setting = ",".join(origins)
    assert evaluate(CONDITIONS["OneCorsOrigin"], {"CorsAllowOrigins": setting}) == (len(origins) == 1)


def test_every_gateway_answer_carries_the_functions_cors_headers_for_one_origin() -> None:
    [api] = TEMPLATE.of_type("AWS::Serverless::Api").values()
    responses = api["Properties"]["GatewayResponses"]
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "REQUEST_TOO_LARGE", "THROTTLED", "QUOTA_EXCEEDED"} <= set(responses)
    for kind, response in responses.items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Access-Control-Allow-Origin"] == {
            "Fn::If": ["OneCorsOrigin", {"Fn::Sub": "'${CorsAllowOrigins}'"}, {"Ref": "AWS::NoValue"}]
        }, kind
        assert headers["Access-Control-Expose-Headers"] == {
            "Fn::If": ["OneCorsOrigin", f"'{CORS_EXPOSE_HEADERS}'", {"Ref": "AWS::NoValue"}]
        }, kind
        assert headers["Vary"] == {"Fn::If": ["OneCorsOrigin", "'Origin'", {"Ref": "AWS::NoValue"}]}, kind
