"""Powertools Logger, Metrics and Tracer, one of each per container; configured by POWERTOOLS_* variables.

The Tracer exists only where tracing is on: Powertools' Tracer imports the X-Ray SDK even when disabled
(about 40 ms of a cold import where LAMBDA_TASK_ROOT is set, as in Lambda; 300 ms outside Lambda, where its
recorder also builds a sampler; docs/deployment.md). Where POWERTOOLS_TRACE_DISABLED is true (the API
functions by default, template parameter ApiFunctionsTraceDisabled) `tracer` is `Untraced`, whose decorator
returns the handler as it is; Lambda still records its own segments of a traced request."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

from aws_lambda_powertools import Logger, Metrics, Tracer

# A request refused before the plan is read (415, 413, 400) publishes no metric; that is expected.
warnings.filterwarnings("ignore", message="No application metrics to publish")

Handler = TypeVar("Handler", bound=Callable[..., Any])

# The AWS SDK and its HTTP stack log every request and response body at DEBUG: a KMS Encrypt's plaintext (in
# base64), a KMS Decrypt's or a Secrets Manager answer, presigned URLs. Lambda sets the root logger to the
# function's ApplicationLogLevel (LogLevel, where the template gives one) before it imports the handler, and
# these loggers propagate to it; POWERTOOLS_LOG_LEVEL sets only Powertools' own logger. So at LogLevel=DEBUG
# secrets would reach CloudWatch: these loggers stay at INFO or above, whatever the level.
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def quiet_sdk_loggers() -> None:
    for name in SDK_LOGGERS:
        sdk = logging.getLogger(name)
        sdk.setLevel(max(logging.INFO, sdk.getEffectiveLevel()))


quiet_sdk_loggers()


class Untraced:
    """Tracer's `capture_lambda_handler` where tracing is off: the handler unchanged, nothing imported."""

    @overload
    def capture_lambda_handler(self, lambda_handler: Handler) -> Handler: ...

    @overload
    def capture_lambda_handler(
        self, lambda_handler: None = None, *, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[Handler], Handler]: ...

    def capture_lambda_handler(
        self,
        lambda_handler: Handler | None = None,
        *,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Handler | Callable[[Handler], Handler]:
        if lambda_handler is None:
            return lambda handler: handler
        return lambda_handler


def tracing_on() -> bool:
    """Powertools' own reading of POWERTOOLS_TRACE_DISABLED: tracing is off for "true" or "1"."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in {"true", "1"}


logger = Logger()
# Each API function serves one route: its handler's `capture_lambda_handler` traces the route, and
# botocore's calls are subsegments of it. A `capture_method` on the route would repeat that per request.
# Typed as Untraced: the two decorator forms the handlers use, which Tracer's has too (and types loosely).
tracer: Untraced = cast(Untraced, Tracer()) if tracing_on() else Untraced()
metrics = Metrics()
