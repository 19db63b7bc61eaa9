"""An SDK-shaped pipeline on files, each job's output the next one's input as the engine passes them:
two generated clips, merged, transcribed, captioned, reframed to 9:16: a playable file at the end."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest

from execution_api.media import MediaOutput, run_operation
from tests.media.support import FRAME, info


def test_given_the_sdk_pipeline_when_each_job_runs_on_the_last_ones_output_then_a_playable_file_results(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIA_X264_PRESET", "ultrafast")
    outputs: dict[str, pathlib.Path] = {}

    def fetch(address: str, directory: pathlib.Path) -> pathlib.Path:
        source = outputs[address]
        return pathlib.Path(shutil.copyfile(source, directory / source.name))

    def job(job_id: str, operation: str, params: dict, dependencies: list[str] = []) -> MediaOutput:  # noqa: B006
        workdir = tmp_path / job_id
        workdir.mkdir()
        produced, _ = run_operation(operation, params, dependencies, workdir, fetch, lambda: None)
        outputs[f"https://outputs.test/{job_id}"] = produced[0].path
        return produced[0]

    clip = {"duration": 1, "aspectRatio": "16:9", "resolution": "480p"}
    job("job1", "generate", {"prompt": "a cat on a skateboard", **clip})
    job("job2", "generate", {"prompt": "a dog catching a frisbee", **clip})
    merged = job(
        "job3", "merge", {"items": [{"url": "https://outputs.test/job1"}, {"url": "https://outputs.test/job2"}]}
    )
    transcript = job("job4", "transcribe", {"videoUrl": "https://outputs.test/job3"})
    captioned = job(
        "job5", "addSubtitles", {"videoUrl": "https://outputs.test/job3", "transcript": "https://outputs.test/job4"}
    )
    final = job("job6", "reframe", {"aspectRatio": "9:16"}, ["https://outputs.test/job5"])

    assert merged.duration_seconds == pytest.approx(2.0, abs=FRAME)
    # the local transcript reads both prompts, which the merge kept in its comment tag
    words = [w["word"] for w in json.loads(transcript.path.read_text())]
    assert words == ["a", "cat", "on", "a", "skateboard", "a", "dog", "catching", "a", "frisbee"]
    video = info(final.path)
    assert video.kind == "video"
    assert video.video_codec == "h264"
    assert video.pixel_format == "yuv420p"
    assert video.width / video.height == pytest.approx(9 / 16, abs=0.01)
    assert video.duration == pytest.approx(2.0, abs=FRAME)
    assert captioned.duration_seconds == pytest.approx(2.0, abs=FRAME)
