"""docs/deployment.md states its counts from the template (tools/deployment_doc.py, `make docs`): they cannot
drift. Without samtranslator here, the page's digest must be the template's, and every count the template
states itself must be the page's."""

from __future__ import annotations

import re

from local.template import Template
from tools.deployment_doc import BEGIN, END, PAGE, alarm_metrics, declared, digest

TEMPLATE = Template()


def block() -> str:
    text = PAGE.read_text()
    assert text.count(BEGIN) == 1, "the generated block's start marker, once"
    assert text.count(END) == 1, "the generated block's end marker, once"
    return text[text.index(BEGIN) : text.index(END)]


def test_the_counts_were_generated_from_this_template() -> None:
    found = re.search(r"<!-- template digest ([0-9a-f]{16}) -->", block())
    assert found, "no digest: run make docs"
    assert found.group(1) == digest(TEMPLATE.document), "template.yaml changed since the counts: run make docs"


def test_every_count_the_template_states_is_the_pages() -> None:
    generated = block()
    for label, names in declared(TEMPLATE).items():
        line = f"- {label}: {len(names)} ({', '.join(f'`{n}`' for n in names)})"
        assert line in generated, line
    alarms = TEMPLATE.of_type("AWS::CloudWatch::Alarm")
    metrics = sum(alarm_metrics(a["Properties"]) for a in alarms.values())
    assert f"Alarm metrics billed: {metrics} ({len(alarms)} alarms;" in generated
    for alarm in alarms.values():
        name = alarm["Properties"]["AlarmName"]["Fn::Sub"].replace("${AWS::StackName}", "<stack>")
        assert f"| `{name}` | {alarm['Properties']['AlarmDescription']} |" in generated, name


def test_no_count_is_stated_outside_the_generated_block() -> None:
    text = PAGE.read_text()
    outside = text[: text.index(BEGIN)] + text[text.index(END) :]
    stated = re.findall(r"\b\d+ (?:resources|functions|alarms|log groups)\b", outside)
    assert not stated, f"state these in the generated block instead: {stated}"
