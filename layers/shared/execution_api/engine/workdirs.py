"""A media job's work directory: removed when the job ends, and swept by the next job when its owner never
got to remove it (a Lambda timeout or an out-of-memory kill ends the process mid-job, but /tmp outlives it
in a warm container: left alone, a few such jobs fill the ephemeral storage and every later job fails).

Each directory holds a lock file its job keeps locked (flock) while it runs. The kernel drops the lock when
the process dies, so a directory whose lock can be taken belongs to no living job, whatever process or
thread made it. A lock file younger than GRACE_S is left alone: its job may be between creating and locking.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import shutil
import tempfile
import time
from collections.abc import Iterator

PREFIX = "media-job-"
LOCK = ".job.lock"
GRACE_S = 60.0


@contextlib.contextmanager
def job_workdir(root: pathlib.Path | None = None) -> Iterator[pathlib.Path]:
    """A fresh directory under `root` (the temp dir) for one job, locked while the job runs, then removed."""
    parent = root or pathlib.Path(tempfile.gettempdir())
    sweep_abandoned(parent)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    lock = os.open(workdir / LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        os.close(lock)  # after the removal: a sweeper never sees this directory unlocked


def sweep_abandoned(parent: pathlib.Path) -> list[pathlib.Path]:
    """Remove the work directories under `parent` whose job is gone; the ones removed."""
    removed = []
    for workdir in parent.glob(f"{PREFIX}*"):
        if workdir.is_dir() and not workdir.is_symlink() and _abandoned(workdir):
            shutil.rmtree(workdir, ignore_errors=True)
            removed.append(workdir)
    return removed


def _abandoned(workdir: pathlib.Path) -> bool:
    lock_path = workdir / LOCK
    try:
        if time.time() - lock_path.stat().st_mtime < GRACE_S:
            return False
        lock = os.open(lock_path, os.O_RDWR)
    except OSError:  # no lock file: not one of ours, or being removed
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a living job holds it
        return False
    finally:
        os.close(lock)  # closing drops the lock we may have taken
    return True
