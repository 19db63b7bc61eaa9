"""Real media: the operations the media worker runs on ffmpeg (merge, layer, addSubtitles, reframe) and the
`local` provider's stand-ins for generation, so every SDK pipeline produces playable files without a
provider key (docs/operations.md). Imported only by workers: the API functions never load ffmpeg.
It may import core only."""

from __future__ import annotations

import importlib
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from execution_api.media.contract import Fetch, Heartbeat, MediaError, MediaOutput
from execution_api.media.ffmpeg import job_budget, job_time_left

__all__ = [
    "GENERATION_OPERATIONS",
    "MEDIA_OPERATIONS",
    "Fetch",
    "MediaError",
    "MediaOutput",
    "job_time_left",
    "run_operation",
]

MEDIA_OPERATIONS: frozenset[str] = frozenset({"merge", "layer", "addSubtitles", "reframe"})
GENERATION_OPERATIONS: frozenset[str] = frozenset(
    {"generate", "generateImage", "generateAudio", "transcribe", "removeBackground", "removeImageBackground", "lipSync"}
)

Runner = Callable[
    [Mapping[str, Any], Sequence[str], pathlib.Path, Fetch, Heartbeat], tuple[list[MediaOutput], dict[str, Any]]
]


# operation -> (module, function); a module is imported when its operation first runs
_RUNNERS = {
    "merge": ("merge", "run_merge"),
    "layer": ("layer", "run_layer"),
    "addSubtitles": ("captions_job", "run_add_subtitles"),
    "reframe": ("reframe", "run_reframe"),
    "generate": ("generation", "run_generate"),
    "generateImage": ("generation", "run_generate_image"),
    "generateAudio": ("generation", "run_generate_audio"),
    "transcribe": ("local_edits", "run_transcribe"),
    "removeBackground": ("local_edits", "run_remove_background"),
    "removeImageBackground": ("local_edits", "run_remove_image_background"),
    "lipSync": ("local_edits", "run_lip_sync"),
}


def _runner(operation: str) -> Runner | None:
    where = _RUNNERS.get(operation)
    if where is None:
        return None
    module = importlib.import_module(f"execution_api.media.{where[0]}")
    runner: Runner = getattr(module, where[1])
    return runner


def run_operation(
    operation: str,
    params: Mapping[str, Any],
    dependency_urls: Sequence[str],
    workdir: pathlib.Path,
    fetch: Fetch,
    heartbeat: Callable[[], None],
) -> tuple[list[MediaOutput], dict[str, Any]]:
    """Run a media operation or a local-provider generation; outputs (main output first) and metadata.
    An operation whose params name no input works on dependency_urls[0]. Raises MediaError for inputs or
    params that cannot succeed (a sentence for a person)."""
    runner = _runner(operation)
    if runner is None:
        known = ", ".join(sorted(MEDIA_OPERATIONS | GENERATION_OPERATIONS))
        raise MediaError(f"the operation {operation!r} is not a media operation; these are: {known}")
    if not isinstance(params, Mapping):
        raise MediaError("the job's params must be an object")
    with job_budget():
        outputs, metadata = runner(params, list(dependency_urls), workdir, fetch, heartbeat)
    return outputs, {"operation": operation, **metadata}
