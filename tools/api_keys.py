"""`make api-key TENANT=<tenant>` and `make revoke-api-key KEY=<key>`: needs only boto3.

The target is explicit and printed before anything is written:
- by default the deployed stack of a samconfig.toml environment (`--env`, `ENV=prod`; or `--stack`), in the
  region given (`--region`, `REGION=`) or the AWS configuration's; its key table and usage plans are found
  in the stack's outputs. `--endpoint` (`ENDPOINT=`) reaches that stack somewhere else than AWS, e.g. the
  deploy rehearsal's emulator (`make rehearse`);
- `--local` (`LOCAL=1`): `make run`'s backend (`--endpoint`, default http://127.0.0.1:5005), whose key table
  is named after its logical id and which has no API Gateway: no usage plan.
AWS_ENDPOINT_URL in the environment is never followed silently: unless `--endpoint` says the same URL, the
command refuses, so a shell left pointing at a local backend cannot send a production key there (or back).

Deployed, `create` also gives the tenant its API Gateway key (one per tenant, named <stack>-tenant-<tenant>,
made on the tenant's first key) and links it to the usage plan of its tier (`--tier`, standard by default;
moving a tenant to another tier moves the key). The authorizer hands that key to API Gateway
(usageIdentifierKey), so the tier's rate, burst and quota apply to each tenant apart.
A new key is printed once, alone on the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from execution_api.storage.api_keys import TENANT_ID, ApiKeyStore, new_api_key

ROOT = Path(__file__).resolve().parent.parent
LOCAL_TABLE = "ApiKeysTable"  # `make run` names tables by their logical id in template.yaml
LOCAL_ENDPOINT = "http://127.0.0.1:5005"  # make run's MOTO_PORT
TIERS = ("standard", "premium")  # each with a usage plan in template.yaml (output <Tier>UsagePlanId)


class TargetError(RuntimeError):
    """The target is ambiguous or cannot be reached; the message says what to set."""


@dataclass(frozen=True)
class Target:
    session: Any  # boto3 Session in the target's region
    endpoint: str | None  # None: AWS itself
    stack: str | None  # None: make run's local backend

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)

    def describe(self) -> str:
        where = f"endpoint {self.endpoint}" if self.endpoint else "AWS"
        if self.stack is None:
            return f"make run's local backend at {self.endpoint} (table {LOCAL_TABLE}; no usage plans)"
        return f"stack {self.stack} in region {self.session.region_name} at {where}"


def stack_name(environment: str) -> str:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    name: str = config[environment]["global"]["parameters"]["stack_name"]
    return name


def choose_target(args: argparse.Namespace) -> Target:
    """The target the arguments name; refuses an AWS_ENDPOINT_URL they do not name too."""
    endpoint = args.endpoint or (LOCAL_ENDPOINT if args.local else None)
    ambient = os.environ.get("AWS_ENDPOINT_URL")
    if ambient and ambient != endpoint:
        raise TargetError(
            f"AWS_ENDPOINT_URL is set ({ambient}) but the target is {endpoint or 'AWS'}: say ENDPOINT={ambient}"
            " (LOCAL=1 for make run's backend) to write there, or unset AWS_ENDPOINT_URL"
        )
    if args.local:  # the local backend accepts any credentials; a developer's shell may have none
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            os.environ.setdefault(name, value)
    session = boto3.session.Session(region_name=args.region or ("us-east-1" if args.local else None))
    if not session.region_name:
        raise TargetError("no region: say REGION=<region> (or set AWS_REGION / the profile's region)")
    return Target(session, endpoint, None if args.local else (args.stack or stack_name(args.env)))


def stack_outputs(target: Target) -> dict[str, str]:
    stack = target.client("cloudformation").describe_stacks(StackName=target.stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def usage_plan_ids(outputs: dict[str, str]) -> dict[str, str]:
    """Tier -> usage plan id, from the stack's outputs."""
    return {tier: outputs[f"{tier.capitalize()}UsagePlanId"] for tier in TIERS}


def link_tenant_usage_key(apigateway: Any, stack: str, tenant: str, tier: str, plans: dict[str, str]) -> str:
    """The tenant's API Gateway key (made on first use), linked to its tier's usage plan and no other one
    of this stack. Returns the key's value, which the authorizer returns as usageIdentifierKey."""
    name = f"{stack}-tenant-{tenant}"
    found = [
        key
        for page in apigateway.get_paginator("get_api_keys").paginate(nameQuery=name, includeValues=True)
        for key in page.get("items", [])
        if key.get("name") == name
    ]
    if found:
        key = found[0]
    else:
        key = apigateway.create_api_key(
            name=name, description=f"Usage plan key of tenant {tenant} (API key source AUTHORIZER)", enabled=True
        )

    def linked(plan_id: str) -> bool:
        pages = apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan_id, nameQuery=name)
        return any(member["id"] == key["id"] for page in pages for member in page.get("items", []))

    for other_tier, plan_id in plans.items():
        if other_tier != tier and linked(plan_id):  # one usage plan per API stage and key: leave the old tier
            apigateway.delete_usage_plan_key(usagePlanId=plan_id, keyId=key["id"])
    if not linked(plans[tier]):
        with contextlib.suppress(apigateway.exceptions.ConflictException):  # linked meanwhile
            apigateway.create_usage_plan_key(usagePlanId=plans[tier], keyId=key["id"], keyType="API_KEY")
    value: str = key["value"]
    return value


def create(target: Target, tenant: str, tier: str) -> int:
    if not TENANT_ID.fullmatch(tenant):
        print("error: a tenant id is 1 to 64 characters of A-Z a-z 0-9 _ -", file=sys.stderr)
        return 2
    usage_key = None
    if target.stack is None:
        table = LOCAL_TABLE
        print("Usage plan: skipped (make run's backend has no API Gateway; no per-tenant limits).")
    else:
        outputs = stack_outputs(target)
        table = outputs["ApiKeysTableName"]
        plans = usage_plan_ids(outputs)
        usage_key = link_tenant_usage_key(target.client("apigateway"), target.stack, tenant, tier, plans)
        print(f"Usage plan: tenant '{tenant}' is on the {tier} tier of stack {target.stack}.")
    key = new_api_key()
    ApiKeyStore(target.client("dynamodb"), table).create(tenant, key, usage_key)
    print(f"API key for tenant '{tenant}' in table {table}.")
    print("It is shown once and only its SHA-256 hash is stored: keep it somewhere safe now.")
    print(key)
    return 0


def revoke(target: Target, key: str) -> int:
    table = LOCAL_TABLE if target.stack is None else stack_outputs(target)["ApiKeysTableName"]
    if ApiKeyStore(target.client("dynamodb"), table).revoke(key):
        print(f"Revoked (deployed: API Gateway may accept it for up to 5 more minutes from its cache). Table {table}.")
        return 0
    print(f"error: no such key in table {table}", file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("--env", default="default", help="samconfig.toml environment of the stack (default: dev)")
    parse.add_argument("--stack", default="", help="the stack's name, instead of samconfig.toml's")
    parse.add_argument("--region", default="", help="the stack's region (default: the AWS configuration's)")
    parse.add_argument("--endpoint", default="", help="AWS endpoint URL other than AWS (an emulator)")
    parse.add_argument("--local", action="store_true", help="make run's backend instead of a deployed stack")
    commands = parse.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="make a key for a tenant and print it once")
    made.add_argument("--tenant", required=True)
    made.add_argument("--tier", choices=TIERS, default="standard")
    revoked = commands.add_parser("revoke", help="revoke a key")
    revoked.add_argument("--key", required=True)
    return parse


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        target = choose_target(args)
    except TargetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Target: {target.describe()}.")
    if args.command == "create":
        return create(target, args.tenant, args.tier)
    return revoke(target, args.key)


if __name__ == "__main__":
    sys.exit(main())
