"""The emulator's own gaps, each named, in one place: what `make rehearse` changes in SAM's transformed template
(or in its one request) so that ministack's CloudFormation, API Gateway and Lambda run it. Nothing here is
what AWS gets: `make deploy` deploys the template as it is.
"""

from __future__ import annotations

from typing import Any

# Each gap: what ministack does, and what the rehearsal does about it.
GAPS = {
    "metric-math alarms": "ministack's CloudFormation refuses an alarm with Metrics (metric math): those alarms are"
    " left out",
    "ANY methods": "ministack's OpenAPI import drops x-amazon-apigateway-any-method: each becomes the methods it"
    " stands for",
    "usage plan keys": "ministack reads a usage plan key from x-api-key only, never from the authorizer"
    " (usageIdentifierKey): the rehearsal's client sends the tenant's API Gateway key there too",
    "layer architecture": "ministack runs functions on its own x86_64 interpreter: the layer is installed for that"
    " interpreter, and layer and functions say x86_64",
    "AWS_ENDPOINT_URL": "ministack points a function at itself only when the function's environment has no"
    " AWS_ENDPOINT_URL: the template's empty one is removed",
    "numbers from parameters": "ministack passes a Number parameter on as a string, and its SQS poller then fails"
    " comparing MaximumConcurrency: each is given as the parameter's default, a number",
}
METHODS = ("get", "post", "put", "patch", "delete", "head")


def without_metric_math_alarms(resources: dict[str, dict[str, Any]]) -> list[str]:
    removed = sorted(
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "Metrics" in r.get("Properties", {})
    )
    for name in removed:
        del resources[name]
    return removed


def any_methods_spelled_out(resources: dict[str, dict[str, Any]]) -> int:
    """Each ANY method of a REST API's body becomes GET, POST, PUT, PATCH, DELETE and HEAD (the function
    answers 405 to the ones it does not serve, as it does behind ANY)."""
    spelled = 0
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGateway::RestApi":
            continue
        for path in resource["Properties"].get("Body", {}).get("paths", {}).values():
            method = path.pop("x-amazon-apigateway-any-method", None)
            if method is not None:
                spelled += 1
                for name in METHODS:
                    path.setdefault(name, method)
    return spelled


def without_empty_endpoint(resources: dict[str, dict[str, Any]]) -> int:
    removed = 0
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            if variables.pop("AWS_ENDPOINT_URL", None) is not None:
                removed += 1
    return removed


def on_the_emulators_architecture(resources: dict[str, dict[str, Any]]) -> int:
    changed = 0
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function":
            properties["Architectures"] = ["x86_64"]
            changed += 1
        elif resource["Type"] == "AWS::Lambda::LayerVersion":
            properties["CompatibleArchitectures"] = ["x86_64"]
            changed += 1
    return changed


def maximum_concurrency_as_numbers(resources: dict[str, dict[str, Any]], parameters: dict[str, Any]) -> int:
    changed = 0
    for resource in resources.values():
        scaling = resource.get("Properties", {}).get("ScalingConfig", {})
        if resource["Type"] == "AWS::Lambda::EventSourceMapping" and "Ref" in scaling.get("MaximumConcurrency", {}):
            scaling["MaximumConcurrency"] = int(parameters[scaling["MaximumConcurrency"]["Ref"]]["Default"])
            changed += 1
    return changed


def apply(template: dict[str, Any]) -> list[str]:
    """Every template gap, applied; one line each saying what changed."""
    resources = template["Resources"]
    parameters = template.get("Parameters", {})
    return [
        f"numbers from parameters: {maximum_concurrency_as_numbers(resources, parameters)} MaximumConcurrency given"
        " as numbers",
        f"metric-math alarms: left out {', '.join(without_metric_math_alarms(resources)) or 'none'}",
        f"ANY methods: {any_methods_spelled_out(resources)} spelled out as {', '.join(m.upper() for m in METHODS)}",
        f"AWS_ENDPOINT_URL: removed from {without_empty_endpoint(resources)} functions",
        f"layer architecture: {on_the_emulators_architecture(resources)} functions and layers say x86_64",
    ]
