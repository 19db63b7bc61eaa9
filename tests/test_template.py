"""template.yaml: what the deployment promises (least privilege, globals, table, outputs)."""

from __future__ import annotations

from typing import Any

from local.template import Template

TEMPLATE = Template()


def statements(function: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in TEMPLATE.resources[function]["Properties"]["Policies"]:
        found.extend(policy["Statement"])
    return found


def test_globals_match_the_runtime_contract() -> None:
    function = TEMPLATE.document["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    assert function["Layers"] == [{"Ref": "SharedLayer"}]
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "EXECUTIONS_TABLE_NAME"} <= set(
        function["Environment"]["Variables"]
    )


def grants(function: str) -> dict[str, set[str]]:
    """Actions per resource logical id."""
    result: dict[str, set[str]] = {}
    for statement in statements(function):
        found = statement["Resource"]
        resource = found["Fn::GetAtt"][0] if "Fn::GetAtt" in found else found["Fn::Sub"]
        listed = statement["Action"]
        result.setdefault(resource, set()).update([listed] if isinstance(listed, str) else listed)
    return result


def test_the_status_function_is_read_only() -> None:
    # It presigns output GETs, which work only because its role may read the objects.
    assert grants("ExecutionStatusFunction") == {
        "ExecutionsTable": {"dynamodb:Query"},
        "${OutputsBucket.Arn}/*": {"s3:GetObject"},
    }


def test_the_submit_function_gets_only_what_it_uses() -> None:
    assert grants("SubmitExecutionFunction") == {
        # TransactWriteItems puts; the base execution check; removing job items of a failed large submission
        "ExecutionsTable": {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:BatchWriteItem"},
        # what Powertools' Idempotency utility does with its records
        "IdempotencyTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "CredentialKey": {"kms:Encrypt"},
    }
    [kms] = [s for s in statements("SubmitExecutionFunction") if s["Action"] == "kms:Encrypt"]
    assert kms["Condition"]["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"] == ["executionId"]


def test_the_authorizer_only_reads_key_hashes() -> None:
    assert grants("AuthorizerFunction") == {"ApiKeysTable": {"dynamodb:GetItem"}}


def test_every_route_needs_the_api_key_authorizer() -> None:
    auth = TEMPLATE.resources["ExecutionApi"]["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert authorizer["Identity"]["Header"] == "Authorization"
    assert authorizer["Identity"]["ReauthorizeEvery"] > 0  # results are cached
    for function in TEMPLATE.functions():
        for event in TEMPLATE.resources[function.logical_id]["Properties"].get("Events", {}).values():
            if event["Type"] != "Api" or event["Properties"]["Method"] == "OPTIONS":
                continue  # CORS preflights carry no key; the function answers them for allowed origins only
            if event["Properties"]["Path"] == "/api/providers/{provider}/callbacks/{ref}":
                # The one exception: providers hold no key of ours; their signature is checked instead
                # (tests/providers/test_callback_route.py sends unsigned, forged and replayed callbacks).
                assert event["Properties"]["Auth"] == {"Authorizer": "NONE", "ApiKeyRequired": False}
                continue
            assert "Auth" not in event["Properties"], "no route opts out of the default authorizer"


def test_every_resource_is_scoped() -> None:
    for function in ("SubmitExecutionFunction", "ExecutionStatusFunction", "AuthorizerFunction", "SweeperFunction"):
        for statement in statements(function):
            assert statement["Resource"] != "*", (function, statement)


def test_the_table_is_on_demand_with_ttl_and_pitr() -> None:
    table = TEMPLATE.resources["ExecutionsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]


def test_the_credential_key_rotates() -> None:
    assert TEMPLATE.resources["CredentialKey"]["Properties"]["EnableKeyRotation"] is True


def test_api_throttling_and_outputs() -> None:
    api = TEMPLATE.resources["ExecutionApi"]["Properties"]
    [settings] = api["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert {"ApiUrl", "ExecutionsTableName"} <= set(TEMPLATE.document["Outputs"])


def test_gateway_responses_are_problem_json() -> None:
    import json

    responses = TEMPLATE.resources["ExecutionApi"]["Properties"]["GatewayResponses"]
    for name, response in responses.items():
        assert response["ResponseParameters"]["Headers"]["Content-Type"] == "'application/problem+json'", name
        body = json.loads(
            response["ResponseTemplates"]["application/json"]
            .replace("$context.error.messageString", '"a message"')
            .replace("$context.requestId", "rid")
        )
        assert body["status"] == int(response["StatusCode"]), name
        assert body["error"] == body["detail"], name
        assert {"type", "title", "code", "instance"} <= set(body), name


def test_routes_and_handlers() -> None:
    routes = {(f.logical_id, r.method, r.path) for f in TEMPLATE.functions() for r in f.routes}
    assert routes == {
        ("SubmitExecutionFunction", "ANY", "/api/execute"),
        ("SubmitExecutionFunction", "OPTIONS", "/api/execute"),
        ("ExecutionStatusFunction", "ANY", "/api/execute/{id}/status"),
        ("ExecutionStatusFunction", "OPTIONS", "/api/execute/{id}/status"),
        ("CancelExecutionFunction", "ANY", "/api/execute/{id}/cancel"),
        ("ProviderCallbackFunction", "ANY", "/api/providers/{provider}/callbacks/{ref}"),
        ("ProviderKeysFunction", "ANY", "/api/provider-keys/{provider}"),
    }
    for function in TEMPLATE.functions():
        module = function.handler.rsplit(".", 1)[0]
        assert (function.code_dir / f"{module}.py").is_file()


def test_the_sweeper_runs_every_five_minutes_and_can_only_find_and_delete() -> None:
    sweeper = TEMPLATE.resources["SweeperFunction"]["Properties"]
    (event,) = sweeper["Events"].values()
    assert event == {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}
    (statement,) = statements("SweeperFunction")
    assert sorted(statement["Action"]) == ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:Query"]
    assert statement["Resource"] == {"Fn::GetAtt": ["ExecutionsTable", "Arn"]}


def test_the_outputs_bucket_is_encrypted_private_tls_only_and_expires_after_the_retention_parameter() -> None:
    bucket = TEMPLATE.resources["OutputsBucket"]
    properties = bucket["Properties"]
    # Encrypted at rest (SSE-S3: a presigned GET needs no KMS grant)
    [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    # Block Public Access: all four on, ACLs off
    assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    # Outputs expire after OutputRetentionDays (a parameter, 30 by default)
    [expiry] = [r for r in properties["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiry["Status"] == "Enabled"
    assert expiry["ExpirationInDays"] == {"Ref": "OutputRetentionDays"}
    assert TEMPLATE.parameter_defaults()["OutputRetentionDays"] == "30"
    assert bucket["DeletionPolicy"] == "Retain"
    # A bucket policy on this bucket denies every request without TLS, on the bucket and its objects
    policy = TEMPLATE.resources["OutputsBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "OutputsBucket"}
    denials = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(
        s["Principal"] == "*"
        and s["Action"] in ("s3:*", ["s3:*"])
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and {"Fn::GetAtt": ["OutputsBucket", "Arn"]} in s["Resource"]
        and {"Fn::Sub": "${OutputsBucket.Arn}/*"} in s["Resource"]
        for s in denials
    ), denials
    # And nothing in the policy allows anyone anything (access is by IAM grants only)
    assert all(s["Effect"] == "Deny" for s in policy["PolicyDocument"]["Statement"])


def test_only_the_media_worker_carries_ffmpegs_layer() -> None:
    functions = TEMPLATE.of_type("AWS::Serverless::Function")
    assert TEMPLATE.document["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayer"}]
    carrying = {name for name, f in functions.items() if {"Ref": "MediaLayer"} in f["Properties"].get("Layers", [])}
    assert carrying == {"MediaWorkerFunction"}


def test_each_worker_has_the_disk_its_copies_need() -> None:
    # a provider output (up to MaxInputBytes, 2 GiB by default) passes through the worker's /tmp
    defaults = TEMPLATE.parameter_defaults()
    functions = TEMPLATE.of_type("AWS::Serverless::Function")
    worker = functions["WorkerFunction"]["Properties"]
    assert worker["EphemeralStorage"]["Size"] * 1024**2 > int(defaults["MaxInputBytes"])
    assert worker["Environment"]["Variables"]["MAX_INPUT_BYTES"] == {"Ref": "MaxInputBytes"}
    assert functions["MediaWorkerFunction"]["Properties"]["EphemeralStorage"]["Size"] == 10240
