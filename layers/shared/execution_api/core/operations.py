"""Which worker runs an operation (docs/engine.md, "Routing"). Light on purpose: the engine and intake
import it; the media package (ffmpeg) is imported by workers only.

MEDIA_OPERATIONS and GENERATION_OPERATIONS equal execution_api.media's (a test keeps them equal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

MEDIA_OPERATIONS = frozenset({"merge", "layer", "addSubtitles", "reframe"})
GENERATION_OPERATIONS = frozenset(
    {"generate", "generateImage", "generateAudio", "transcribe", "removeBackground", "removeImageBackground", "lipSync"}
)
BUILT_IN_OPERATIONS = MEDIA_OPERATIONS | GENERATION_OPERATIONS


def accepted_operations(custom: frozenset[str], *, simulated_executor: bool) -> frozenset[str]:
    """What intake accepts: any name where the simulated executor runs the unknown ones (empty = any),
    else the built-in operations and those custom workers run (ALLOWED_OPERATIONS)."""
    return frozenset() if simulated_executor else BUILT_IN_OPERATIONS | custom


def runs_simulated(operation: str, params: Mapping[str, Any], *, simulated_executor: bool) -> bool:
    """Where the simulated executor is enabled, it runs a job that asks for it (params.simulate) and any
    operation no built-in worker knows (so made-up names keep working locally)."""
    return simulated_executor and ("simulate" in params or operation not in BUILT_IN_OPERATIONS)


ExecutorName = Literal["simulated", "media", "providers", "custom"]


def executor_of(operation: str, params: Mapping[str, Any], *, simulated_executor: bool) -> ExecutorName:
    """The one routing rule: which executor runs a job. The engine derives the job's queue and timeout from it,
    the worker its executor. "custom" is an operation only a custom worker (ALLOWED_OPERATIONS) runs."""
    if runs_simulated(operation, params, simulated_executor=simulated_executor):
        return "simulated"
    if operation in MEDIA_OPERATIONS:
        return "media"
    if operation in GENERATION_OPERATIONS:
        return "providers"
    return "custom"


def runs_on_media_worker(
    operation: str, params: Mapping[str, Any], *, simulated_executor: bool, local_providers: bool
) -> bool:
    """The media worker (ffmpeg) runs the media operations, and the generation ones when the local provider
    stands in for real providers; everything else goes to the work queue."""
    executor = executor_of(operation, params, simulated_executor=simulated_executor)
    return executor == "media" or (local_providers and executor == "providers")
