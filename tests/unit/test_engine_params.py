"""A job's params: dependency references resolved, and numbers that travel exactly from the item to the worker."""

from __future__ import annotations

from decimal import Decimal

from execution_api.engine.messages import WorkJob
from execution_api.engine.params import params_text, resolve_references
from execution_api.storage.items import job_from_item


def test_references_are_resolved_in_values_and_keys_at_any_depth() -> None:
    params = {
        "video": "_videoJobDependency:a",
        "items": [{"url": "_imageJobDependency:b"}, "_audioJobDependency:unknown"],
        "_videoJobDependency:a": "as a key",
        "text": "mentions _videoJobDependency:a inside",
    }
    urls = {"a": "https://o.invalid/a.mp4", "b": "https://o.invalid/b.png"}
    assert resolve_references(params, urls) == {
        "video": "https://o.invalid/a.mp4",
        "items": [{"url": "https://o.invalid/b.png"}, "_audioJobDependency:unknown"],
        "https://o.invalid/a.mp4": "as a key",
        "text": "mentions _videoJobDependency:a inside",
    }


def test_params_are_read_through_the_job_codec_and_travel_exactly() -> None:
    stored = '{"n": 1e-400, "k": [1, 2], "big": 12345678901234567890123456789012345678901}'
    params = job_from_item(
        {
            "jobId": {"S": "a"},
            "position": {"N": "0"},
            "operation": {"S": "merge"},
            "params": {"S": stored},
            "dependsOn": {"L": []},
            "status": {"S": "pending"},
        }
    ).params
    assert params == {"n": Decimal("1E-400"), "k": [1, 2], "big": 12345678901234567890123456789012345678901}
    # The job message carries them as text, so Step Functions and SQS cannot round a number on the way
    job = WorkJob.model_validate(
        {"tenantId": "t", "executionId": "e", "id": "a", "operation": "x", "paramsJson": params_text(params)}
    )
    assert job.params() == params
    assert str(job.params()["n"]) == "1E-400"
