"""Job outputs in the OutputsBucket: where each one is stored, the stable reference a job result keeps, and
the presigned GET a client is given for it (docs/api.md, "Outputs").

A stored result never holds a presigned URL (it would expire in the table): each output's `url` is the
reference `s3://<bucket>/<key>`. The status route and webhooks present it as a presigned GET; the engine
hands it as it is to a dependent job, whose worker reads the object from the bucket (never over HTTP).

Keys are `<tenant hash>/<execution id>/<job hash>/<random>.<ext>`: the tenant id and job id, which a
client chooses, only appear hashed (any character is safe), and 128 random bits make a key unguessable.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote

from execution_api.core.container import per_container
from execution_api.core.environment import int_variable, load_settings, text_variable
from execution_api.core.limits import DEFAULT_URL_EXPIRY_SECONDS, MAX_URL_EXPIRY_SECONDS, MIN_URL_EXPIRY_SECONDS

S3_SCHEME = "s3://"


@dataclass(frozen=True)
class OutputLinkSettings:
    """Where outputs live and how long a presigned URL lasts, for the functions that present outputs (status,
    webhook sender). Not a pydantic model: the status function's cold start loads no pydantic (the workers'
    settings extend execution_api.core.settings.OutputSettings, the same variables and bounds)."""

    outputs_bucket_name: str
    output_url_expiry_seconds: int = DEFAULT_URL_EXPIRY_SECONDS

    @classmethod
    def from_environment(cls) -> Self:
        name = cls.__name__
        return cls(
            outputs_bucket_name=text_variable(name, "OUTPUTS_BUCKET_NAME", min_length=3),
            output_url_expiry_seconds=int_variable(
                name,
                "OUTPUT_URL_EXPIRY_SECONDS",
                default=DEFAULT_URL_EXPIRY_SECONDS,
                ge=MIN_URL_EXPIRY_SECONDS,
                le=MAX_URL_EXPIRY_SECONDS,
            ),
        )


def tenant_prefix(tenant_id: str) -> str:
    """The first key segment of every output of `tenant_id`: a hash, so the id's characters never matter."""
    return hashlib.sha256(tenant_id.encode("utf-8")).hexdigest()[:32]


def output_key(tenant_id: str, execution_id: str, job_id: str, extension: str) -> str:
    job_hash = hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:16]
    suffix = f".{extension}" if extension.isalnum() else ""
    return f"{tenant_prefix(tenant_id)}/{quote(execution_id, safe='')}/{job_hash}/{secrets.token_hex(16)}{suffix}"


def reference(bucket: str, key: str) -> str:
    """The stable reference a job result stores for an object of the bucket."""
    return f"{S3_SCHEME}{bucket}/{key}"


def parse_reference(url: str) -> tuple[str, str] | None:
    """(bucket, key) of an `s3://bucket/key` reference; None for any other URL."""
    if not url.startswith(S3_SCHEME):
        return None
    bucket, _, key = url[len(S3_SCHEME) :].partition("/")
    return (bucket, key) if bucket and key else None


def tenant_key(url: str, bucket: str, tenant_id: str) -> str | None:
    """The key of a reference to `tenant_id`'s own output in `bucket`; None for anything else (another
    bucket, another tenant's prefix, not a reference), which nothing may read or present for this tenant."""
    parsed = parse_reference(url)
    if parsed is None or parsed[0] != bucket:
        return None
    key = parsed[1]
    return key if key.startswith(tenant_prefix(tenant_id) + "/") and ".." not in key.split("/") else None


@dataclass
class OutputLinks:
    """Presents stored references as presigned GETs, in time windows of half the expiry: an answer's URLs
    stay valid for at least half the expiry, so an ETag that covers the stored state and the window never
    lets a 304 leave a client with an expired URL (docs/api.md). `s3` makes (or returns) the S3 client, asked on
    the first reference to present: a poll of a pending execution, or of simulated results, never loads S3's
    model (about 5 MB and tens of milliseconds of a cold status function)."""

    s3: Callable[[], Any]
    bucket: str
    expiry_seconds: int
    clock: Callable[[], float] = time.time

    def window(self) -> int:
        return int(self.clock() // max(1, self.expiry_seconds // 2))

    def refers_to_outputs(self, text: str) -> bool:
        """Whether a stored answer holds any reference this presents (cheap: a substring test)."""
        return reference(self.bucket, "") in text

    def url(self, stored: str, tenant_id: str) -> str:
        key = tenant_key(stored, self.bucket, tenant_id)
        if key is None:
            return stored  # another service's URL (simulated, a custom worker's): shown as stored
        url: str = self.s3().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expiry_seconds
        )
        return url

    def job_result(self, result: Any, tenant_id: str) -> Any:
        """A stored job result with each output's reference presented."""
        if not isinstance(result, dict) or not isinstance(result.get("outputs"), list):
            return result
        outputs = [
            {**o, "url": self.url(o["url"], tenant_id)} if isinstance(o, dict) and isinstance(o.get("url"), str) else o
            for o in result["outputs"]
        ]
        return {**result, "outputs": outputs}

    def execution_result(self, result: Any, tenant_id: str) -> Any:
        """A stored execution result ({url, status}) with its url presented."""
        if isinstance(result, dict) and isinstance(result.get("url"), str):
            return {**result, "url": self.url(result["url"], tenant_id)}
        return result


@per_container
def output_links() -> OutputLinks:
    """Presigning with this function's own role, once per container (signing makes no AWS call; the client
    is made on the first URL to sign)."""
    from execution_api.core.aws_clients import s3_client

    settings = load_settings(OutputLinkSettings)
    return OutputLinks(s3_client, settings.outputs_bucket_name, settings.output_url_expiry_seconds)
