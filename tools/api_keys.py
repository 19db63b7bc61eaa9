"""`make api-key TENANT=<tenant>` and `make revoke-api-key KEY=<key>`.

Talks to the AWS endpoint and tables of the environment it runs in: with AWS_ENDPOINT_URL (e.g.
http://127.0.0.1:5005, a running `make run`) the local table; otherwise the deployed stack's table,
found in its CloudFormation outputs (stack from samconfig.toml, `ENV=prod` for the prod one), or
named directly with API_KEYS_TABLE_NAME. A new key is printed once, alone on the last line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from urllib.parse import urlsplit

import boto3

from execution_api.api_keys import ApiKeyStore, new_api_key
from local.template import ROOT

LOCAL_TABLE = "ApiKeysTable"  # `make run` names tables by their logical id in template.yaml


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


def table_name(environment: str) -> str:
    if os.environ.get("API_KEYS_TABLE_NAME"):
        return os.environ["API_KEYS_TABLE_NAME"]
    if os.environ.get("AWS_ENDPOINT_URL"):
        return LOCAL_TABLE
    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name(environment))["Stacks"][0]
    outputs: dict[str, str] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return outputs["ApiKeysTableName"]


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
    revoke = commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--key", required=True)
    args = parser.parse_args(argv)

    use_fake_credentials_for_loopback()
    use_samconfig_region(args.env)
    table = table_name(args.env)
    store = ApiKeyStore(boto3.client("dynamodb"), table)
    if args.command == "create":
        key = new_api_key()
        try:
            store.create(args.tenant, key)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
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
