"""`make api-key TENANT=<tenant>` and `make revoke-api-key KEY=<key>`.

Talks to the AWS endpoint and tables of the environment it runs in: with AWS_ENDPOINT_URL (e.g.
http://127.0.0.1:5005, a running `make run`) the local table; otherwise the deployed stack's table,
found in its CloudFormation outputs (stack from samconfig.toml, `ENV=prod` for the prod one), or
named directly with API_KEYS_TABLE_NAME. A new key is printed once, alone on the last line.

Deployed, `create` also gives the tenant its API Gateway key (one per tenant, named
<stack>-tenant-<tenant>, made on the tenant's first key) and links it to the usage plan of its tier
(`--tier`, standard by default; moving a tenant to another tier moves the key). The authorizer hands that
key to API Gateway (usageIdentifierKey), so the tier's rate, burst and quota apply to each tenant apart.
Against a local endpoint there is no API Gateway: that step is skipped, and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tomllib
from typing import Any
from urllib.parse import urlsplit

import boto3

from execution_api.api_keys import TENANT_ID, ApiKeyStore, new_api_key
from local.template import ROOT

LOCAL_TABLE = "ApiKeysTable"  # `make run` names tables by their logical id in template.yaml
TIERS = ("standard", "premium")  # each with a usage plan in template.yaml (output <Tier>UsagePlanId)


def stack_name(environment: str) -> str:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    name: str = config[environment]["global"]["parameters"]["stack_name"]
    return name


def use_samconfig_region(environment: str) -> None:
    """Without AWS_REGION, use the region the stack was deployed to (samconfig.toml), not the profile's."""
    if os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        return
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    region = config.get(environment, {}).get("deploy", {}).get("parameters", {}).get("region")
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region


def stack_outputs(environment: str) -> dict[str, str]:
    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name(environment))["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def table_name(environment: str) -> str:
    if os.environ.get("API_KEYS_TABLE_NAME"):
        return os.environ["API_KEYS_TABLE_NAME"]
    if os.environ.get("AWS_ENDPOINT_URL"):
        return LOCAL_TABLE
    return stack_outputs(environment)["ApiKeysTableName"]


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


def use_fake_credentials_for_loopback() -> None:
    """moto accepts any credentials; a developer's shell may have none."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if urlsplit(endpoint).hostname in {"127.0.0.1", "localhost", "::1"}:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=os.environ.get("ENV") or "default", help="samconfig.toml environment")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key for a tenant and print it once")
    create.add_argument("--tenant", required=True)
    create.add_argument("--tier", choices=TIERS, default=os.environ.get("TIER") or "standard")
    revoke = commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--key", required=True)
    args = parser.parse_args(argv)

    use_fake_credentials_for_loopback()
    use_samconfig_region(args.env)
    table = table_name(args.env)
    store = ApiKeyStore(boto3.client("dynamodb"), table)
    if args.command == "create":
        if not TENANT_ID.fullmatch(args.tenant):
            print("error: a tenant id is 1 to 64 characters of A-Z a-z 0-9 _ -", file=sys.stderr)
            return 2
        usage_key = None
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            print(f"Usage plan: skipped ({endpoint} is a local endpoint without API Gateway; no per-tenant limits).")
        else:
            stack = stack_name(args.env)
            usage_key = link_tenant_usage_key(
                boto3.client("apigateway"), stack, args.tenant, args.tier, usage_plan_ids(stack_outputs(args.env))
            )
            print(f"Usage plan: tenant '{args.tenant}' is on the {args.tier} tier of stack {stack}.")
        key = new_api_key()
        store.create(args.tenant, key, usage_key)
        print(f"API key for tenant '{args.tenant}' in table {table}.")
        print("It is shown once and only its SHA-256 hash is stored: keep it somewhere safe now.")
        print(key)
        return 0
    if store.revoke(args.key):
        print(f"Revoked (deployed: API Gateway may accept it for up to 5 more minutes from its cache). Table {table}.")
        return 0
    print(f"error: no such key in table {table}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
