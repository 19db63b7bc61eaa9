"""The one codec of the executions table's execution and job items (docs/data-model.md, docs/engine.md):
a record (`models.records.Execution`, `Job`) becomes the item intake writes, and every item read, whole or
projected, becomes its record here and nowhere else. JSON attributes (params, result, error) are JSON text,
not DynamoDB maps: they come back exactly as written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from execution_api.core import exact_json
from execution_api.models.records import Execution, Job
from execution_api.storage.keys import EXECUTION_SK, execution_pk, item_key, job_sk
from execution_api.storage.webhook_state import webhook_delivery_from_item

Item = dict[str, Any]

# What a job item's decode needs besides params: a projected read names these, and then what it uses.
JOB_ATTRIBUTES = "sk, jobId, #position, operation, dependsOn, #status"


def json_text(value: Any) -> str:
    """A result or an error as stored: compact JSON text (the status endpoint parses it)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# result, error and sealedParams are JSON text this package wrote (compact, nothing around it), so raw_decode
# reads them: it skips json.loads' argument checks and its scan for trailing text, which saves about a tenth
# of the status read's decode of a 500-job execution (and pays for the engine's attributes on each job).
_read_json = json.JSONDecoder().raw_decode


def _optional_json(item: Item, name: str) -> Any:
    return _read_json(item[name]["S"])[0] if name in item else None


def _strings(values: Sequence[str]) -> Item:
    return {"L": [{"S": v} for v in values]}


def execution_item(execution: Execution, write_id: str) -> Item:
    item: Item = {
        **item_key(execution_pk(execution.tenant_id, execution.id), EXECUTION_SK),
        "writeId": {"S": write_id},
        "entity": {"S": "execution"},
        "executionId": {"S": execution.id},
        "tenantId": {"S": execution.tenant_id},
        "status": {"S": execution.status},
        "createdAt": {"S": execution.created_at},
        "updatedAt": {"S": execution.updated_at},
        "expiresAt": {"N": str(execution.expires_at)},
        "rootJobIds": _strings(execution.root_job_ids),
        "totalJobs": {"N": str(execution.total_jobs)},
    }
    if execution.base_execution_id is not None:
        item["baseExecutionId"] = {"S": execution.base_execution_id}
    if execution.webhook_url is not None:
        item["webhookUrl"] = {"S": execution.webhook_url}
    if execution.webhook_secret_ciphertext is not None:
        item["webhookSecretCiphertext"] = {"B": execution.webhook_secret_ciphertext}
    if execution.sealed_credentials is not None:
        item["sealedCredentials"] = {"B": execution.sealed_credentials}
    return item


def execution_from_item(item: Item) -> Execution:
    return Execution(
        id=item["executionId"]["S"],
        tenant_id=item["tenantId"]["S"],
        status=item["status"]["S"],
        created_at=item["createdAt"]["S"],
        updated_at=item["updatedAt"]["S"],
        completed_at=item["completedAt"]["S"] if "completedAt" in item else None,
        expires_at=int(item["expiresAt"]["N"]),
        root_job_ids=tuple([v["S"] for v in item["rootJobIds"]["L"]]),
        total_jobs=int(item["totalJobs"]["N"]),
        base_execution_id=item["baseExecutionId"]["S"] if "baseExecutionId" in item else None,
        webhook_url=item["webhookUrl"]["S"] if "webhookUrl" in item else None,
        webhook_secret_ciphertext=item["webhookSecretCiphertext"]["B"] if "webhookSecretCiphertext" in item else None,
        sealed_credentials=item["sealedCredentials"]["B"] if "sealedCredentials" in item else None,
        result=_optional_json(item, "result"),
        error=_optional_json(item, "error"),
        webhook_delivery=webhook_delivery_from_item(item),
    )


def job_item(execution: Execution, job: Job, write_id: str) -> Item:
    """A job as intake writes it; the engine's attributes come later, by JobStore's updates."""
    item: Item = {
        **item_key(execution_pk(execution.tenant_id, execution.id), job_sk(job.id)),
        "writeId": {"S": write_id},
        "entity": {"S": "job"},
        "executionId": {"S": execution.id},
        "jobId": {"S": job.id},
        "position": {"N": str(job.position)},
        "operation": {"S": job.operation},
        # JSON text, not a DynamoDB map: keeps every digit, empty strings and key order exactly as sent.
        "params": {"S": job.params_text if job.params_text is not None else exact_json.dumps(job.params)},
        "dependsOn": _strings(job.depends_on),
        "status": {"S": job.status},
        "createdAt": {"S": execution.created_at},
        "updatedAt": {"S": execution.updated_at},
        "expiresAt": {"N": str(execution.expires_at)},
    }
    if job.output is not None:
        item["output"] = {"S": job.output}
    if job.base_depends_on:
        item["baseDependsOn"] = _strings(job.base_depends_on)
    if job.sealed_params:
        # Not json_text: sealedParams has always been stored ASCII-escaped (a pointer into a key `clé` is
        # "/cl\u00e9"), and stored bytes do not change; both read back the same.
        item["sealedParams"] = {"S": json.dumps(job.sealed_params, separators=(",", ":"))}
    if job.send_webhook:  # the stream filter of per-job webhooks (docs/webhooks.md) reads this flag
        item["jobWebhook"] = {"BOOL": True}
    return item


def job_from_item(item: Item, with_params: bool = True) -> Job:
    """A job item (whole, or projected to JOB_ATTRIBUTES and more) as its record; an attribute a projection
    left out reads as absent. `with_params=False` leaves params empty instead of decoding them. Written out
    attribute by attribute, without helpers: the status read decodes up to MAX_JOBS of these per request."""
    return Job(
        id=item["jobId"]["S"],
        position=int(item["position"]["N"]),
        operation=item["operation"]["S"],
        params=exact_json.loads(item["params"]["S"]) if with_params else {},
        depends_on=tuple([v["S"] for v in item["dependsOn"]["L"]]),
        output=item["output"]["S"] if "output" in item else None,
        status=item["status"]["S"],
        base_depends_on=tuple([v["S"] for v in item["baseDependsOn"]["L"]]) if "baseDependsOn" in item else (),
        sealed_params=_read_json(item["sealedParams"]["S"])[0] if "sealedParams" in item else {},
        result=_read_json(item["result"]["S"])[0] if "result" in item else None,
        error=_read_json(item["error"]["S"])[0] if "error" in item else None,
        started_at=item["startedAt"]["S"] if "startedAt" in item else None,
        completed_at=item["completedAt"]["S"] if "completedAt" in item else None,
        updated_at=item["updatedAt"]["S"] if "updatedAt" in item else None,
        send_webhook="jobWebhook" in item,
        webhook_delivery=webhook_delivery_from_item(item) if "webhook" in item else None,
        dependents=tuple([v["S"] for v in item["dependents"]["L"]]) if "dependents" in item else (),
        done_dependencies=tuple(item["doneDependencies"]["SS"]) if "doneDependencies" in item else (),
        failed_dependency=item["failedDependency"]["S"] if "failedDependency" in item else None,
        gate_token=item["gateToken"]["S"] if "gateToken" in item else None,
        prediction_ref=prediction_ref(item) if "prediction" in item else None,
    )


# The job item's `prediction` map: which provider prediction runs the job (storage.predictions notes it; the
# retried attempt and the cancel find the prediction by its ref).
PREDICTION = "prediction"


def prediction_note(provider: str, prediction_id: str, ref: str) -> Item:
    """The `prediction` map noted on a job item."""
    return {"M": {"provider": {"S": provider}, "id": {"S": prediction_id}, "ref": {"S": ref}}}


def prediction_ref(item: Item) -> str | None:
    """The ref of the prediction noted on a job item (whole or projected); None when none is."""
    ref: str | None = item.get(PREDICTION, {}).get("M", {}).get("ref", {}).get("S")
    return ref
