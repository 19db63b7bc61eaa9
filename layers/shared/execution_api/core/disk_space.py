"""A worker's disk running out (ENOSPC): its ephemeral storage is fixed, so the same job on the same worker
cannot fit on a retry. Every place that writes a job's files turns it into a failed job with this sentence,
instead of a retried download (which would fail on every attempt until the task timed out)."""

from __future__ import annotations

import errno
import pathlib
import shutil

NO_SPACE_TEXT = "No space left on device"  # strerror(ENOSPC), as ffmpeg prints it


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full_message(directory: pathlib.Path) -> str:
    """A sentence for the client: how much disk the worker has (its ephemeral storage), never a path."""
    try:
        total = shutil.disk_usage(directory).total
    except OSError:
        return "the job's inputs and output need more disk than this worker has; use smaller or fewer inputs"
    return (
        f"the job's inputs and output need more than the {total / 1024**3:.1f} GB of disk this worker has; "
        "use smaller or fewer inputs"
    )
