"""make deploy (tools/deploy.py): unattended, the region a setting, the account's API Gateway role made once."""

from __future__ import annotations

import tomllib

import pytest

from tools.deploy import ROOT, account_role_parameter, configured_overrides, deploy_command, with_override

SAMCONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_given_samconfig_when_deploying_then_no_prompt_and_no_region_constant(environment: str) -> None:
    deploy = SAMCONFIG[environment]["deploy"]["parameters"]
    assert deploy["confirm_changeset"] is False
    assert "region" not in deploy  # make deploy REGION=..., or the AWS configuration's


@pytest.mark.parametrize(
    ("manages", "account_role", "expected"),
    [
        (True, "arn:aws:iam::123456789012:role/made-by-this-stack", "true"),  # keep what the stack owns
        (False, "arn:aws:iam::123456789012:role/someone-elses", "false"),  # one per account: theirs
        (False, None, "true"),  # nobody set it yet
    ],
    ids=["this-stack-manages-it", "another-stack-or-admin-set-it", "unset"],
)
def test_given_the_accounts_role_when_deciding_then_it_is_made_once(
    manages: bool, account_role: str | None, expected: str
) -> None:
    value, reason = account_role_parameter(manages, account_role)
    assert value == expected
    assert reason  # printed before the deploy


def test_given_samconfigs_overrides_when_one_is_settled_then_the_others_are_kept_and_it_appears_once() -> None:
    overrides = configured_overrides("prod")
    assert "Stage=prod" in overrides
    settled = with_override([*overrides, "CreateApiGatewayAccountRole=true"], "CreateApiGatewayAccountRole", "false")
    assert [o for o in settled if o.startswith("CreateApiGatewayAccountRole=")] == ["CreateApiGatewayAccountRole=false"]
    assert set(overrides) - {"CreateApiGatewayAccountRole=true"} <= set(settled)


@pytest.mark.parametrize(("confirm", "flag"), [(False, "--no-confirm-changeset"), (True, "--confirm-changeset")])
def test_given_confirm_or_not_when_the_command_is_built_then_it_asks_only_when_told(confirm: bool, flag: str) -> None:
    command = deploy_command("sam", "prod", "eu-west-1", ["Stage=prod"], confirm)
    assert command[:6] == ["sam", "deploy", "--config-env", "prod", "--region", "eu-west-1"]
    assert command[-1] == flag
    assert command[command.index("--parameter-overrides") + 1] == "Stage=prod"
