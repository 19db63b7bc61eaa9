"""`python -m local.sam_env` (`make sam-env`): writes local/sam-env.json, the `--env-vars` file that points
`sam local invoke` and `sam local start-api` at `make run`'s backend. Generated from template.yaml, so
it cannot drift; `--check` fails when the committed file is not what this writes.

What SAM does with the file, and why each entry is what it is (endpoint, resource names, credentials):
docs/local-development.md, "The env-vars file".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from local.template import (
    ACCOUNT_ID,
    LOCAL_PARAMETERS,
    REGION,
    ROOT,
    Template,
    local_bucket_name,
    pseudo_parameters,
    resolve,
)

ENV_VARS_PATH = ROOT / "local" / "sam-env.json"
DEFAULT_MOTO_PORT = 5005
CONTAINER_HOST = "host.docker.internal"  # make run's host, seen from a Lambda container
# Declared in the template with an empty deployed value, given the local backend here.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL",)


def local_endpoint(moto_port: int = DEFAULT_MOTO_PORT, host: str = CONTAINER_HOST) -> str:
    return f"http://{host}:{moto_port}"


def local_resource_names(template: Template) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """What !Ref and !GetAtt give for make run's resources (the names provision() creates), plus the
    parameters' defaults. KMS keys are named by their alias, which make run creates with the key."""
    names = {**template.parameter_defaults(), **pseudo_parameters()}
    attributes: dict[tuple[str, str], str] = {}
    for logical_id in template.of_type("AWS::DynamoDB::Table"):
        names[logical_id] = logical_id
        attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{logical_id}"
    for logical_id in template.of_type("AWS::SQS::Queue"):
        # SQS finds a queue by the account and name in its URL, whatever the host: the endpoint decides.
        names[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{logical_id}"
        attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{logical_id}"
    for logical_id in template.of_type("AWS::S3::Bucket"):
        names[logical_id] = local_bucket_name(logical_id)
        attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{names[logical_id]}"
    for logical_id in template.of_type("AWS::Serverless::StateMachine"):
        names[logical_id] = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{logical_id}"  # make run's name
        attributes[(logical_id, "Name")] = logical_id
        attributes[(logical_id, "Arn")] = names[logical_id]
    aliases = template.of_type("AWS::KMS::Alias").values()
    for logical_id in template.of_type("AWS::KMS::Key"):
        [alias] = [
            resolve(a["Properties"]["AliasName"], names, attributes)
            for a in aliases
            if a["Properties"]["TargetKeyId"] == {"Ref": logical_id}
        ]
        names[logical_id] = alias
        attributes[(logical_id, "Arn")] = alias  # KeyId accepts an alias name wherever it accepts an ARN
    return names, attributes


def _names_a_resource(value: Any, template: Template) -> bool:
    """True for !Ref of a resource and for !GetAtt: values that differ between AWS and make run."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return True
        if "Ref" in value:
            return value["Ref"] in template.resources
    return False


def env_vars(template: Template | None = None, moto_port: int = DEFAULT_MOTO_PORT) -> dict[str, dict[str, str]]:
    """{function logical id: {variable: local value}} for every function of the template; only the
    variables whose local value differs from what SAM would give (parameters and literals stay as the
    template says)."""
    template = template or Template()
    names, attributes = local_resource_names(template)
    result: dict[str, dict[str, str]] = {}
    for function in sorted(template.functions(), key=lambda f: f.logical_id):
        overrides: dict[str, str] = {}
        for name, value in sorted(function.environment.items()):
            if name in ENDPOINT_VARIABLES:
                overrides[name] = local_endpoint(moto_port)
            elif _names_a_resource(value, template):
                overrides[name] = resolve(value, names, attributes)
            elif isinstance(value, dict) and value.get("Ref") in LOCAL_PARAMETERS:
                overrides[name] = LOCAL_PARAMETERS[value["Ref"]]  # as make run runs (simulated, local provider)
        result[function.logical_id] = overrides
    return result


def render(values: dict[str, dict[str, str]]) -> str:
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


def write(path: Path = ENV_VARS_PATH, moto_port: int = DEFAULT_MOTO_PORT) -> Path:
    path.write_text(render(env_vars(moto_port=moto_port)))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the file is not what would be written")
    parser.add_argument("--moto-port", type=int, default=DEFAULT_MOTO_PORT, help="make run's MOTO_PORT")
    parser.add_argument("--output", type=Path, default=ENV_VARS_PATH)
    args = parser.parse_args(argv)
    if args.check:
        expected = render(env_vars(moto_port=args.moto_port))
        if not args.output.exists() or args.output.read_text() != expected:
            print(f"{args.output} is stale: run `make sam-env`", file=sys.stderr)
            return 1
        return 0
    print(f"wrote {write(args.output, args.moto_port)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
