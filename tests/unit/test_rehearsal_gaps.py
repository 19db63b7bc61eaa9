"""make rehearse changes only the emulator's named gaps (tools/rehearsal_gaps.py), each as it says."""

from __future__ import annotations

from typing import Any

from tools import rehearsal_gaps


def template() -> dict[str, Any]:
    route = {"x-amazon-apigateway-integration": {"type": "aws_proxy"}}
    return {
        "Parameters": {"WorkerMaxConcurrency": {"Type": "Number", "Default": 20}},
        "Resources": {
            "Plain": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "Errors"}},
            "Math": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Metrics": [{"Id": "a"}]}},
            "Api": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {"Body": {"paths": {"/x": {"x-amazon-apigateway-any-method": route, "options": {}}}}},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Architectures": ["arm64"],
                    "Environment": {"Variables": {"AWS_ENDPOINT_URL": "", "A": "b"}},
                },
            },
            "Layer": {"Type": "AWS::Lambda::LayerVersion", "Properties": {"CompatibleArchitectures": ["arm64"]}},
            "Jobs": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"ScalingConfig": {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}}},
            },
        },
    }


def test_given_the_transformed_template_when_the_gaps_are_applied_then_each_changes_what_it_names() -> None:
    changed = template()
    lines = rehearsal_gaps.apply(changed)
    resources = changed["Resources"]
    assert set(resources) == {"Plain", "Api", "Fn", "Layer", "Jobs"}  # only the metric-math alarm is left out
    path = resources["Api"]["Properties"]["Body"]["paths"]["/x"]
    assert "x-amazon-apigateway-any-method" not in path
    assert {m: path[m] for m in rehearsal_gaps.METHODS} == {
        m: {"x-amazon-apigateway-integration": {"type": "aws_proxy"}} for m in rehearsal_gaps.METHODS
    }
    assert path["options"] == {}  # the preflight route stays its own
    assert resources["Fn"]["Properties"]["Environment"]["Variables"] == {"A": "b"}
    assert resources["Fn"]["Properties"]["Architectures"] == ["x86_64"]
    assert resources["Layer"]["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    assert resources["Jobs"]["Properties"]["ScalingConfig"]["MaximumConcurrency"] == 20
    # Every template gap says what it did, under its name.
    template_gaps = set(rehearsal_gaps.GAPS) - {"usage plan keys"}  # the one gap the client handles
    assert {line.split(":", 1)[0] for line in lines} == template_gaps
