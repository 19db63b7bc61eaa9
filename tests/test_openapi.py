"""docs/openapi.json is generated from the code's models (`make openapi`) and must not go stale."""

from __future__ import annotations

import json

from tools.openapi import OPENAPI_PATH, openapi_document


def test_the_committed_document_is_current() -> None:
    assert OPENAPI_PATH.read_text() == openapi_document(), "docs/openapi.json is stale: run `make openapi`"


def test_it_documents_202_and_every_error_status() -> None:
    document = json.loads(OPENAPI_PATH.read_text())
    submit = document["paths"]["/api/execute"]["post"]
    assert set(submit["responses"]) == {
        "202",
        "400",
        "401",
        "404",
        "405",
        "409",
        "413",
        "415",
        "422",
        "429",
        "500",
        "503",
    }
    assert "200" not in submit["responses"]
    assert submit["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    status = document["paths"]["/api/execute/{id}/status"]["get"]
    assert {"200", "404", "503"} <= set(status["responses"])


def test_the_request_schema_forbids_unknown_fields() -> None:
    schemas = json.loads(OPENAPI_PATH.read_text())["components"]["schemas"]
    for name in ("SubmitExecutionRequest", "ExecutionPlanRequest", "JobRequest", "OptionsRequest"):
        assert schemas[name]["additionalProperties"] is False, name
