"""Creates the template's tables and key on a moto (or other AWS-compatible) endpoint and wires the
functions' environment to them: what `sam deploy` would do, for local work."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from local import ministack
from local.template import (
    ACCOUNT_ID,
    LOCAL_PARAMETERS,
    REGION,
    Function,
    Route,
    Template,
    local_bucket_name,
    pseudo_parameters,
    resolve,
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
)


def use_local_credentials() -> None:
    """Fake credentials for moto, so nothing local can ever reach a real AWS account by accident."""
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - moto's conventional fake credential
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_REGION"] = REGION


@dataclass
class LocalDeployment:
    """The template as provisioned on the local backend (moto or ministack): the names and ARNs its
    resources got, the functions' resolved environment, and its routes."""

    template: Template
    names: dict[str, str]  # what !Ref gives for each parameter and resource
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # what !GetAtt gives

    @property
    def functions(self) -> list[Function]:
        return self.template.functions()

    def function(self, logical_id: str) -> Function:
        for function in self.functions:
            if function.logical_id == logical_id:
                return function
        raise KeyError(f"no function {logical_id} in template.yaml")

    def environment(self, function: Function) -> dict[str, str]:
        conditions = self.template.document.get("Conditions", {})
        return {
            name: resolve(value, self.names, self.attributes, conditions=conditions)
            for name, value in function.environment.items()
        }

    def shared_environment(self) -> dict[str, str]:
        """The union of every function's environment; one process hosts them all locally."""
        merged: dict[str, str] = {}
        for function in self.functions:
            merged.update(self.environment(function))
        return merged

    def table_names(self) -> list[str]:
        return [self.names[name] for name in self.template.of_type("AWS::DynamoDB::Table")]

    def handler(self, function: Function) -> Handler:
        return function.load_handler(self.template.layer_dirs())

    def route(self, method: str, path: str) -> tuple[Function, dict[str, str], str] | None:
        found = self._find_route(method, path)
        return None if found is None else (found[0], found[1], found[2].path)

    def is_open(self, method: str, path: str) -> bool:
        """Whether API Gateway would call this route without the authorizer (`Auth: Authorizer: NONE`)."""
        found = self._find_route(method, path)
        return found is not None and found[2].open

    def _find_route(self, method: str, path: str) -> tuple[Function, dict[str, str], Route] | None:
        """As API Gateway matches: a route for this very method wins over ANY."""
        matches = [
            (function, params, route)
            for function in self.functions
            for route in function.routes
            if (params := route.match(method, path)) is not None
        ]
        matches.sort(key=lambda match: match[2].method == "ANY")
        return matches[0] if matches else None


def provision(
    template: Template | None = None, endpoint_url: str | None = None, parameters: dict[str, str] | None = None
) -> LocalDeployment:
    """Create every table, key, alias, queue and state machine of the template (reusing ones that exist)
    and return the wiring. `parameters` override the template's parameter defaults (as a deploy would)."""
    template = template or Template()
    kms = boto3.client("kms", region_name=REGION, endpoint_url=endpoint_url)
    names = {**template.parameter_defaults(), **LOCAL_PARAMETERS, **(parameters or {}), **pseudo_parameters()}
    stack = LocalDeployment(template, names)
    provision_tables(template, stack, endpoint_url)

    aliases = template.of_type("AWS::KMS::Alias")
    existing = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    for logical_id, resource in template.of_type("AWS::KMS::Key").items():
        alias_names = [
            resolve(a["Properties"]["AliasName"], names, stack.attributes)
            for a in aliases.values()
            if a["Properties"]["TargetKeyId"] == {"Ref": logical_id}
        ]
        key_id = next((existing[a] for a in alias_names if existing.get(a)), None)
        if key_id is None:
            key_id = kms.create_key(Description=resource["Properties"].get("Description", logical_id))["KeyMetadata"][
                "KeyId"
            ]
            for alias in alias_names:
                kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        names[logical_id] = key_id
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"

    provision_queues(template, stack, endpoint_url)
    provision_buckets(template, stack, endpoint_url)
    provision_state_machines(template, stack, endpoint_url)
    for logical_id in template.resources:
        names.setdefault(logical_id, f"execution-api-local-{logical_id}")
    return stack


def provision_tables(template: Template, stack: LocalDeployment, endpoint_url: str | None) -> None:
    """DynamoDB tables named by logical id, with the template's keys, indexes, stream and TTL."""
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint_url)
    existing = dynamodb.list_tables()["TableNames"]
    for logical_id, resource in template.of_type("AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        stack.names[logical_id] = logical_id
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{logical_id}"
        if logical_id not in existing:
            stream = props.get("StreamSpecification")  # CloudFormation's form lacks the API's StreamEnabled
            dynamodb.create_table(
                TableName=logical_id,
                **{k: props[k] for k in TABLE_PROPERTIES if k in props},
                **({"StreamSpecification": {"StreamEnabled": True, **stream}} if stream else {}),
            )
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                dynamodb.update_time_to_live(TableName=logical_id, TimeToLiveSpecification=ttl)
        if "StreamSpecification" in props:
            stream_arn = dynamodb.describe_table(TableName=logical_id)["Table"]["LatestStreamArn"]
            stack.attributes[(logical_id, "StreamArn")] = stream_arn


def provision_queues(template: Template, stack: LocalDeployment, endpoint_url: str | None) -> None:
    """SQS queues named by logical id; dead-letter queues first, since the others' redrive names them."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url)
    queues = template.of_type("AWS::SQS::Queue")
    for logical_id, resource in sorted(queues.items(), key=lambda q: "RedrivePolicy" in q[1]["Properties"]):
        props = resource.get("Properties", {})
        attributes = {
            name: str(props[name]) for name in ("VisibilityTimeout", "MessageRetentionPeriod") if name in props
        }
        if "RedrivePolicy" in props:
            redrive = props["RedrivePolicy"]
            target = resolve(redrive["deadLetterTargetArn"], stack.names, stack.attributes)
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": target, "maxReceiveCount": str(redrive["maxReceiveCount"])}
            )
        try:  # a backend that outlived make run (ministack) keeps its queues
            url = sqs.get_queue_url(QueueName=logical_id)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            url = sqs.create_queue(QueueName=logical_id, Attributes=attributes)["QueueUrl"]
        stack.names[logical_id] = url
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{logical_id}"
        stack.attributes[(logical_id, "QueueName")] = logical_id


def provision_buckets(template: Template, stack: LocalDeployment, endpoint_url: str | None) -> None:
    """S3 buckets named after their logical id (lower case, as S3 wants), private as the template says."""
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint_url)
    for logical_id in template.of_type("AWS::S3::Bucket"):
        name = local_bucket_name(logical_id)
        if name not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=name)
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration=template.resources[logical_id]["Properties"][
                "PublicAccessBlockConfiguration"
            ],
        )
        stack.names[logical_id] = name
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"


def provision_state_machines(template: Template, stack: LocalDeployment, endpoint_url: str | None) -> None:
    """Each AWS::Serverless::StateMachine from its DefinitionUri file with its DefinitionSubstitutions."""
    sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=endpoint_url)
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/execution-api-local-state-machine"
    for logical_id, _resource in template.of_type("AWS::Serverless::StateMachine").items():
        definition = state_machine_definition(template, stack, logical_id)
        if ministack.serves(endpoint_url):  # the functions' MAX_PARALLEL_JOBS: the shell's or the template's
            limit = os.environ.get("MAX_PARALLEL_JOBS") or stack.names["MaxParallelJobs"]
            definition = ministack.with_static_map_concurrency(definition, int(limit))
        if logical_id in existing:
            arn = existing[logical_id]
            sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        else:
            arn = sfn.create_state_machine(name=logical_id, definition=definition, roleArn=role)["stateMachineArn"]
        stack.names[logical_id] = arn
        stack.attributes[(logical_id, "Name")] = logical_id
        stack.attributes[(logical_id, "Arn")] = arn


def state_machine_definition(template: Template, stack: LocalDeployment, logical_id: str) -> str:
    """The definition as CloudFormation would hand it to Step Functions: ${Name} placeholders substituted."""
    props = template.resources[logical_id]["Properties"]
    text = (template.path.parent / props["DefinitionUri"]).read_text()
    mappings = template.document.get("Mappings", {})
    values = {
        name: resolve(value, stack.names, stack.attributes, mappings)
        for name, value in props.get("DefinitionSubstitutions", {}).items()
    }
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


class FakeLambdaContext:
    """The parts of the Lambda context object that Powertools reads."""

    def __init__(self, function: Function, request_id: str) -> None:
        self.function_name = f"execution-api-local-{function.logical_id}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


# The settings a developer may change from the shell for `make run` / `make invoke` (the template's
# value is the default); names of tables and keys always come from the template.
SHELL_SETTINGS = frozenset(
    {
        "MAX_JOBS",
        "MAX_JOB_PARAMS_BYTES",
        "MAX_BODY_BYTES",
        "ALLOWED_OPERATIONS",
        "ALLOW_INSECURE_WEBHOOKS",
        "EXECUTION_RETENTION_DAYS",
        "CORS_ALLOW_ORIGINS",
        "POWERTOOLS_LOG_LEVEL",
        "WEBHOOK_RETRY_SCHEDULE",
        "WEBHOOK_TIMEOUT_SECONDS",
        "MAX_PARALLEL_JOBS",
        "JOB_TIMEOUT_SECONDS",
        "PROVIDER_JOB_TIMEOUT_SECONDS",
        "JOB_HEARTBEAT_SECONDS",
        "SIMULATED_JOB_MS",
        "SIMULATED_EXECUTOR",
        "LOCAL_PROVIDERS",
        "DEFAULT_MODELS",
        "REPLICATE_API_URL",
        "FAL_QUEUE_URL",
        "FAL_JWKS_URL",
        "ELEVENLABS_API_URL",
        "PROVIDER_CALLBACK_BASE_URL",
        "PROVIDER_POLL_SECONDS",
        "LOCAL_STAND_INS",
        "ALLOW_INSECURE_INPUTS",
        "MAX_INPUT_BYTES",
        "INPUT_TIMEOUT_SECONDS",
        "OUTPUT_URL_EXPIRY_SECONDS",
    }
)


# Variables the template declares only so `sam local` can override them (their deployed value is empty):
# the local runner sets them itself (make run and make invoke point AWS_ENDPOINT_URL at their backend).
LOCAL_RUNNER_SETTINGS = frozenset({"AWS_ENDPOINT_URL"})


def apply_environment(stack: LocalDeployment, keep_shell_settings: bool = False) -> None:
    """Put the functions' environment into this process, as Lambda would, and forget cached settings.
    With keep_shell_settings, SHELL_SETTINGS already set in the environment win over the template."""
    environment = {k: v for k, v in stack.shared_environment().items() if k not in LOCAL_RUNNER_SETTINGS}
    if keep_shell_settings:
        environment = {k: v for k, v in environment.items() if not (k in SHELL_SETTINGS and k in os.environ)}
    os.environ.update(environment)
    # Tracing needs the X-Ray daemon, which only exists in Lambda.
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    forget_cached_configuration()


def forget_cached_configuration() -> None:
    """Drop the per-container caches (settings, clients, services) so the next call reads the environment."""
    container = sys.modules.get("execution_api.core.container")
    if container is not None:
        container.reset_caches()
