"""A media job's work directory (execution_api.engine.workdirs): what a job killed mid-way (a Lambda timeout,
an out-of-memory kill) leaves in /tmp is removed by the next job of the container, while a directory a
living job holds, or one just made, is never touched."""

from __future__ import annotations

import fcntl
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import boto3
from moto import mock_aws

from execution_api.engine import workdirs
from execution_api.engine.executors import JobRequest
from execution_api.engine.media_executor import MediaExecutor, MediaSettings
from execution_api.engine.workdirs import GRACE_S, LOCK, PREFIX, job_workdir, sweep_abandoned
from execution_api.media import MediaOutput


def left_behind(parent: pathlib.Path, name: str, age_s: float = GRACE_S + 5) -> pathlib.Path:
    """A work directory as a killed job leaves it: an input, a half-written output, its lock file unlocked."""
    workdir = parent / f"{PREFIX}{name}"
    (workdir / "inputs").mkdir(parents=True)
    (workdir / "inputs" / "input.mp4").write_bytes(b"\x00" * 1024)
    (workdir / "captioned.mp4").write_bytes(b"\x00" * 512)
    lock = workdir / LOCK
    lock.touch()
    then = time.time() - age_s
    os.utime(lock, (then, then))
    return workdir


def test_the_next_job_removes_what_a_killed_job_left_and_its_own_directory(tmp_path: pathlib.Path) -> None:
    stale = left_behind(tmp_path, "killed")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="outputs")
        seen: list[pathlib.Path] = []

        def operation(name: str, params: Any, urls: Any, workdir: pathlib.Path, *_: Any) -> Any:
            seen.append(workdir)
            output = workdir / "out.png"
            output.write_bytes(b"\x89PNG")
            return [MediaOutput(output, "image", "image/png", None, 2, 2)], {}

        settings = MediaSettings.model_validate({"OUTPUTS_BUCKET_NAME": "outputs"})
        executor = MediaExecutor(s3, settings, run_operation=operation, temp_root=tmp_path)
        executor.run(JobRequest("e", "j", "reframe", {}, tenant_id="t"), lambda: None)
    assert not stale.exists()
    assert [workdir.parent for workdir in seen] == [tmp_path]
    assert not seen[0].exists()
    assert list(tmp_path.iterdir()) == []


def test_a_directory_a_living_job_holds_is_kept(tmp_path: pathlib.Path) -> None:
    held = left_behind(tmp_path, "running")
    descriptor = os.open(held / LOCK, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        assert sweep_abandoned(tmp_path) == []
        assert (held / "inputs" / "input.mp4").exists()
    finally:
        os.close(descriptor)
    assert sweep_abandoned(tmp_path) == [held]


def test_a_job_of_this_process_is_never_swept_by_another(tmp_path: pathlib.Path) -> None:
    with job_workdir(tmp_path) as workdir:
        old = time.time() - GRACE_S - 5
        os.utime(workdir / LOCK, (old, old))
        # another process sweeping the same temp dir (two local workers, or a test run beside make run)
        code = (
            "import pathlib, sys; from execution_api.engine.workdirs import sweep_abandoned; "
            "sys.exit(len(sweep_abandoned(pathlib.Path(sys.argv[1]))))"
        )
        layer = str(pathlib.Path(workdirs.__file__).parents[2])
        other = subprocess.run(  # noqa: S603 - this interpreter, our own code
            [sys.executable, "-c", code, str(tmp_path)], check=False, env={**os.environ, "PYTHONPATH": layer}
        )
        assert other.returncode == 0
        assert sweep_abandoned(tmp_path) == []  # nor by another thread of this one (flock is per open file)
        assert workdir.exists()
    assert not workdir.exists()


def test_a_fresh_directory_and_anything_not_ours_is_left_alone(tmp_path: pathlib.Path) -> None:
    fresh = left_behind(tmp_path, "just-made", age_s=0)
    unlocked = tmp_path / f"{PREFIX}no-lock"
    unlocked.mkdir()
    other = tmp_path / "someone-else"
    other.mkdir()
    (other / LOCK).touch()
    assert sweep_abandoned(tmp_path) == []
    assert [path.exists() for path in (fresh, unlocked, other)] == [True, True, True]
