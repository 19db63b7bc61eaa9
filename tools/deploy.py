"""`make deploy [ENV=prod] [REGION=...]`: `sam deploy` of one samconfig.toml environment, unattended.

Needs only boto3 (it runs on the SAM CLI's own venv). Before `sam deploy` it settles what a person would
otherwise have to know (docs/deployment.md, "Deploying"):
- the region is a setting: REGION, else the AWS configuration's (AWS_REGION, the profile); none is an error;
- the target (account, region, stack) is printed before anything changes;
- a failed first create (stack in ROLLBACK_COMPLETE, which CloudFormation cannot update) is deleted first,
  so the next try is a clean create; what such a stack retains is listed in docs/deployment.md;
- CreateApiGatewayAccountRole: the account's API Gateway CloudWatch role is made once per account and
  region: by this stack when it already manages it or nobody set one yet, else left to whoever did.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_SETTING = "ApiGatewayAccount"  # the template's AWS::ApiGateway::Account (logical id)


def samconfig(environment: str) -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "samconfig.toml").read_text())[environment]
    return config


def stack_name(environment: str) -> str:
    name: str = samconfig(environment)["global"]["parameters"]["stack_name"]
    return name


def configured_overrides(environment: str) -> list[str]:
    """The environment's parameter_overrides (samconfig.toml), one Key=Value each."""
    text = samconfig(environment).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    return shlex.split(text)


def account_role_parameter(stack_manages_it: bool, account_role_arn: str | None) -> tuple[str, str]:
    """CreateApiGatewayAccountRole's value, and why: one setting per account and region, made once."""
    if stack_manages_it:
        return "true", "this stack already manages the account's API Gateway CloudWatch role"
    if account_role_arn:
        return "false", f"the account already has an API Gateway CloudWatch role ({account_role_arn})"
    return "true", "the account has no API Gateway CloudWatch role yet: this stack sets it"


def with_override(overrides: list[str], key: str, value: str) -> list[str]:
    """The overrides with key=value in place of any earlier value of key."""
    return [item for item in overrides if item.split("=", 1)[0] != key] + [f"{key}={value}"]


def stack_status(cloudformation: Any, stack: str) -> str | None:
    try:
        status: str = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return status


def manages_account_setting(cloudformation: Any, stack: str) -> bool:
    try:
        cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=ACCOUNT_SETTING)
    except ClientError:
        return False
    return True


def clear_failed_first_create(cloudformation: Any, stack: str) -> None:
    """A stack whose first create rolled back cannot be updated: delete it (its retained resources stay)."""
    if stack_status(cloudformation, stack) != "ROLLBACK_COMPLETE":
        return
    print(f"Stack {stack} is ROLLBACK_COMPLETE (a failed first create): deleting it before this try.")
    cloudformation.delete_stack(StackName=stack)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack)


def deploy_command(sam: str, environment: str, region: str, overrides: list[str], confirm: bool) -> list[str]:
    command = [sam, "deploy", "--config-env", environment, "--region", region]
    command += ["--parameter-overrides", *overrides]
    return command + (["--confirm-changeset"] if confirm else ["--no-confirm-changeset"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="default", help="samconfig.toml environment (default: dev)")
    parser.add_argument("--region", default="", help="AWS region (default: the AWS configuration's)")
    parser.add_argument("--confirm", action="store_true", help="show the change set and ask before applying it")
    parser.add_argument("--parameter", action="append", default=[], help="one more Key=Value override")
    parser.add_argument("--sam", default="sam", help="the SAM CLI to run")
    args = parser.parse_args(argv)

    session = boto3.session.Session(region_name=args.region or None)
    if not session.region_name:
        print("error: no region: say REGION=<region> (or set AWS_REGION / the profile's region)", file=sys.stderr)
        return 2
    stack = stack_name(args.env)
    account = session.client("sts").get_caller_identity()["Account"]
    print(f"Target: stack {stack} in account {account}, region {session.region_name}.")
    cloudformation = session.client("cloudformation")
    clear_failed_first_create(cloudformation, stack)
    managed = manages_account_setting(cloudformation, stack)
    role = None if managed else session.client("apigateway").get_account().get("cloudwatchRoleArn")
    value, reason = account_role_parameter(managed, role)
    print(f"CreateApiGatewayAccountRole={value}: {reason}.")
    overrides = with_override(configured_overrides(args.env), "CreateApiGatewayAccountRole", value)
    for extra in args.parameter:
        key, _, item = extra.partition("=")
        overrides = with_override(overrides, key, item)
    command = deploy_command(args.sam, args.env, session.region_name, overrides, args.confirm)
    return subprocess.run(command, check=False).returncode  # noqa: S603 - our own argv, no shell


if __name__ == "__main__":
    sys.exit(main())
