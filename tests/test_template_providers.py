"""template.yaml, providers (docs/providers.md, docs/security.md): where a function acts on prediction items
or on provider key items alone, IAM says so; the deployment's provider keys are the stack's own."""

from __future__ import annotations

import re
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from execution_api.providers.checker import LEASE_SECONDS
from execution_api.storage.api_keys import TENANT_ID
from execution_api.storage.keys import execution_pk
from execution_api.storage.provider_keys import ProviderKeyStore
from local.template import Template, evaluate
from tests.test_template import statements

TEMPLATE = Template()
PREDICTIONS_ONLY = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PREDICTION#*"]}}


def table_grants(function: str) -> list[tuple[set[str], Any]]:
    found = []
    for statement in statements(function):
        if statement["Resource"] == {"Fn::GetAtt": ["ExecutionsTable", "Arn"]}:
            listed = statement["Action"]
            found.append(({listed} if isinstance(listed, str) else set(listed), statement.get("Condition")))
    return found


def test_the_callback_route_reads_and_writes_prediction_items_only() -> None:
    # It has no API key in front of it: a ref it is given never reaches an execution's or a job's item.
    assert table_grants("ProviderCallbackFunction") == [({"dynamodb:GetItem", "dynamodb:UpdateItem"}, PREDICTIONS_ONLY)]


def test_the_poller_moves_prediction_items_only() -> None:
    assert table_grants("PredictionPollerFunction") == [({"dynamodb:UpdateItem"}, PREDICTIONS_ONLY)]


@pytest.mark.parametrize("worker", ["WorkerFunction", "MediaWorkerFunction"])
def test_the_workers_create_prediction_items_only(worker: str) -> None:
    # They claim and settle with GetItem/UpdateItem on jobs and predictions; PutItem only ever records a prediction.
    grants = table_grants(worker)
    assert [condition for actions, condition in grants if "dynamodb:PutItem" in actions] == [PREDICTIONS_ONLY]
    assert [actions for actions, _ in grants if "dynamodb:PutItem" in actions] == [{"dynamodb:PutItem"}]


def iam_like(pattern: str, value: str) -> bool:
    """IAM's StringLike: `*` any run of characters, `?` any one."""
    parts = (".".join(re.escape(piece) for piece in part.split("?")) for part in pattern.split("*"))
    return re.fullmatch(".*".join(parts), value, re.DOTALL) is not None


def leading_key_allowed(condition: dict[str, Any], pk: str) -> bool:
    """Whether a request on the item with this partition key meets the condition (one leading key)."""
    allowed = True
    for operator, keys in condition.items():
        matched = any(iam_like(pattern, pk) for pattern in keys["dynamodb:LeadingKeys"])
        if operator == "ForAllValues:StringLike":
            allowed = allowed and matched
        elif operator == "ForAllValues:StringNotLike":
            allowed = allowed and not matched
        else:
            raise AssertionError(f"an operator this test does not read: {operator}")
    return allowed


@hypothesis.settings(deadline=None)
@hypothesis.given(
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),  # storage.api_keys.TENANT_ID
    st.sampled_from(["replicate", "fal", "elevenlabs"]),
    st.one_of(st.just("PROVIDERKEYS"), st.just("x#PROVIDERKEYS"), st.text(max_size=24)),
)
def test_the_provider_keys_function_reaches_provider_key_items_only(
    tenant: str, provider: str, execution_id: str
) -> None:
    assert TENANT_ID.pattern == r"[A-Za-z0-9_-]{1,64}"
    [(actions, condition)] = table_grants("ProviderKeysFunction")
    assert actions == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}
    assert condition, "ProviderKeysFunction may reach any item of the executions table"
    # The key items the function reads and writes (storage.provider_keys) are allowed...
    assert leading_key_allowed(condition, ProviderKeyStore._key(tenant, provider)["pk"]["S"])
    # ...and no execution's or job's item, whatever the execution id, nor a prediction's
    assert not leading_key_allowed(condition, execution_pk(tenant, execution_id))
    assert not leading_key_allowed(condition, f"PREDICTION#{execution_id}")


def secret_arn(worker: str, given: str) -> str:
    """The secret ARN pattern a worker may read, for a value of the ProviderKeySecretPrefix parameter."""
    parameters = {"ProviderKeySecretPrefix": given, "AWS::StackName": "media-prod"}
    conditions = TEMPLATE.document["Conditions"]
    [secrets] = [s for s in statements(worker) if s["Action"] == "secretsmanager:GetSecretValue"]
    pattern, names = secrets["Resource"]["Fn::Sub"]
    condition, given_prefix, stack_prefix = names["Prefix"]["Fn::If"]
    if evaluate({"Condition": condition}, parameters, conditions):
        chosen = evaluate(given_prefix, parameters, conditions)
    else:
        chosen = stack_prefix["Fn::Sub"].replace("${AWS::StackName}", "media-prod")
    return str(pattern).replace("${Prefix}", chosen)


@pytest.mark.parametrize("worker", ["WorkerFunction", "MediaWorkerFunction"])
def test_the_deployment_keys_are_the_stacks_own_unless_a_prefix_is_given(worker: str) -> None:
    from execution_api.providers.settings import ProviderSettings

    # Two stacks in one account (dev and prod) never read each other's provider keys by default: the worker
    # looks for <stack>/providers/<provider>, and IAM lets it read just that.
    assert TEMPLATE.document["Parameters"]["ProviderKeySecretPrefix"]["Default"] == ""
    variables = TEMPLATE.resources[worker]["Properties"]["Environment"]["Variables"]
    assert variables["PROVIDER_KEY_SECRET_PREFIX"] == {"Ref": "ProviderKeySecretPrefix"}
    assert variables["STACK_NAME"] == {"Ref": "AWS::StackName"}
    for given, expected in (("", "media-prod/providers/"), ("shared/providers/", "shared/providers/")):
        required = {"EXECUTIONS_TABLE_NAME": "t", "CREDENTIAL_KEY_ID": "k", "OUTPUTS_BUCKET_NAME": "outputs"}
        settings = ProviderSettings.model_validate(
            required | {"PROVIDER_KEY_SECRET_PREFIX": given, "STACK_NAME": "media-prod"}
        )
        assert settings.secret_name("fal") == f"{expected}fal"
        assert secret_arn(worker, given).endswith(f":secret:{expected}*")


def schedule_seconds(expression: str) -> int:
    """EventBridge's rate(N minute|minutes|hour|hours) in seconds."""
    match = re.fullmatch(r"rate\((\d+) (minute|hour)s?\)", expression)
    assert match, f"a schedule this test does not read: {expression}"
    return int(match[1]) * (60 if match[2] == "minute" else 3600)


def test_the_heartbeat_cannot_be_set_below_the_gap_between_a_predictions_looks() -> None:
    from execution_api.providers.settings import PredictionSettings

    # A provider job's task hears from its prediction at each look (docs/providers.md): a look sets the next one
    # PROVIDER_POLL_SECONDS later (the poller's, and the worker's default when it submits), and the poller that
    # sends it runs on its schedule; so looks may come poll + period apart.
    poller = TEMPLATE.resources["PredictionPollerFunction"]["Properties"]
    poll_seconds = int(poller["Environment"]["Variables"]["PROVIDER_POLL_SECONDS"])
    assert PredictionSettings.model_fields["provider_poll_seconds"].default == poll_seconds
    period = schedule_seconds(poller["Events"]["EveryMinute"]["Properties"]["Schedule"])
    heartbeat = TEMPLATE.document["Parameters"]["JobHeartbeatSeconds"]
    # A minute more for the work queue's wait and the schedule's drift: no allowed value times out every provider job.
    assert heartbeat["MinValue"] >= poll_seconds + period + 60
    assert heartbeat["Default"] >= heartbeat["MinValue"]
    # and a crashed checker's lease on the prediction ends while the task still waits (providers.checker)
    assert heartbeat["MinValue"] > LEASE_SECONDS


def test_the_worker_says_what_it_runs() -> None:
    description = TEMPLATE.resources["WorkerFunction"]["Properties"]["Description"]
    assert "simulated today" not in description
    assert "providers" in description
