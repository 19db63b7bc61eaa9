"""Issue 23 at the routes: ids checked the same way by every route before any read, 404s in words, and a
cancel answered in the form the SDK settles on."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.events import rest_api_event
from tests.support import LOCAL_TENANT, Answer, Api, plan

CANCEL = "CancelExecutionFunction"
# What DynamoDB answers for a key attribute over its size limit (a partition key over 2048 bytes).
KEY_TOO_LARGE = ClientError(
    {
        "Error": {
            "Code": "ValidationException",
            "Message": "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit",
        }
    },
    "GetItem",
)


def cancel(api: Api, execution_id: str) -> Answer:
    event = rest_api_event(
        "POST",
        f"/api/execute/{execution_id}/cancel",
        resource="/api/execute/{id}/cancel",
        path_parameters={"id": execution_id},
        tenant_id=LOCAL_TENANT,
    )
    return api.call(CANCEL, event)


@pytest.fixture
def dynamodb_refuses_large_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Both routes' DynamoDB clients answer as real DynamoDB does to a key over its size limit; the
    operations that reached them are recorded."""
    from execution_api.core.aws_clients import dynamodb_client, engine_dynamodb_client

    reached: list[str] = []
    for client in {id(c): c for c in (dynamodb_client(), engine_dynamodb_client())}.values():
        for operation in ("get_item", "query"):
            real = getattr(client, operation)

            def refuse(real: Any = real, operation: str = operation, **kwargs: Any) -> Any:
                reached.append(operation)
                if len(str(kwargs)) > 2048:
                    raise KEY_TOO_LARGE
                return real(**kwargs)

            monkeypatch.setattr(client, operation, refuse)
    return reached


@pytest.mark.parametrize("bad_id", ["x" * 3000, "V1StGXR8_Z5jdHi6B-my", "V1StGXR8_Z5jdHi6B-my!", "ü" * 21])
def test_every_route_answers_a_malformed_id_with_the_same_404_before_any_read(
    api: Api, dynamodb_refuses_large_keys: list[str], bad_id: str
) -> None:
    # When the status and the cancel routes get an id that cannot be an execution id
    status, cancelled = api.status(bad_id), cancel(api, bad_id)
    # Then both answer the same 404, in words, without echoing the id, and read nothing
    for answer in (status, cancelled):
        assert answer.status == 404, answer.body
        assert answer.body["code"] == "execution_not_found"
        assert answer.body["error"] == "no execution was found: an execution id is 21 characters of A-Z a-z 0-9 _ -"
        assert bad_id not in answer.raw.decode()
    assert dynamodb_refuses_large_keys == []


def test_an_unknown_id_is_a_404_that_names_what_was_not_found(api: Api) -> None:
    for answer in (api.status("V1StGXR8_Z5jdHi6B-myT"), cancel(api, "V1StGXR8_Z5jdHi6B-myT")):
        assert answer.status == 404
        assert answer.body["error"] == answer.body["detail"] == "no execution 'V1StGXR8_Z5jdHi6B-myT' was found"


def test_the_cancel_answer_reads_as_a_failure_that_says_it_was_cancelled(api: Api) -> None:
    execution_id = api.submit(plan({"id": "a"})).body["id"]
    answer = cancel(api, execution_id)
    assert answer.status == 202
    assert answer.body == {
        "id": execution_id,
        "executionId": execution_id,
        "status": "failed",
        "cancelled": True,
        "error": "Execution cancelled",
        "statusUrl": f"/api/execute/{execution_id}/status",
    }
    status = api.status(execution_id).body
    assert (status["status"], status["cancelled"], status["error"]) == ("failed", True, "Execution cancelled")
    assert status["failedJobs"] == 1
    assert [(j["status"], j["cancelled"]) for j in status["jobs"]] == [("failed", True)]
