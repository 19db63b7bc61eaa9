"""End to end under `make run`: an SDK-shaped plan (two generated clips, merged, transcribed and captioned,
reframed to 9:16) runs on the local provider and the media worker with real ffmpeg, and the URL the status
gives downloads a playable file from the local backend's S3, with no API key, as a browser would."""

from __future__ import annotations

import json
import pathlib
import time
import urllib.request
from typing import Any

import pytest

from execution_api.media.probe import probe
from tests.support import Server, running_server

pytestmark = pytest.mark.http

CLIP = {"duration": 1, "aspectRatio": "16:9", "resolution": "480p"}
SDK_PLAN = {
    "executionPlan": {
        "jobs": [
            {
                "id": "job1",
                "type": "generate",
                "params": {"prompt": "a cat on a skateboard", **CLIP},
                "output": "$job1",
            },
            {  # as the SDK sends it: a provider and model named, no key anywhere, so the local provider runs it
                "id": "job2",
                "type": "generate",
                "params": {"provider": "replicate", "modelId": "bytedance/seedance-1-pro", "prompt": "a dog", **CLIP},
                "output": "$job2",
            },
            {
                "id": "job3",
                "type": "merge",
                "params": {
                    "items": [
                        {"url": "_videoJobDependency:job1", "type": "video"},
                        {"url": "_videoJobDependency:job2", "type": "video"},
                    ]
                },
                "dependencies": ["job1", "job2"],
                "output": "$job3",
            },
            {
                "id": "job4",
                "type": "transcribe",
                "params": {"videoUrl": "_videoJobDependency:job3"},
                "dependencies": ["job3"],
                "output": "$job4",
            },
            {
                "id": "job5",
                "type": "addSubtitles",
                "params": {
                    "videoUrl": "_videoJobDependency:job3",
                    "transcript": "_transcriptJobDependency:job4",
                    "style": {"preset": "tiktok"},
                },
                "dependencies": ["job3", "job4"],
                "output": "$job5",
            },
            {
                "id": "job6",
                "type": "reframe",
                "params": {"aspectRatio": "9:16"},
                "dependencies": ["job5"],
                "output": "$job6",
            },
        ]
    }
}


def final_status(server: Server, execution_id: str, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status: dict[str, Any] = server.request("GET", f"/api/execute/{execution_id}/status").body
        if status["status"] in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"still {status['status']} after {timeout_s} s")


def test_an_sdk_pipeline_under_make_run_ends_in_a_playable_file_a_browser_can_open(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIA_X264_PRESET", "ultrafast")  # quick encodes; the test is about the plumbing
    with running_server() as (server, _):
        # Given the SDK's plan, submitted as execute() does
        answer = server.post(json.dumps(SDK_PLAN).encode())
        assert answer.status == 202, answer.body
        # When it runs to the end
        status = final_status(server, answer.body["id"])
        # Then every job completed, and the result is a presigned GET on the local backend (127.0.0.1)
        assert status["status"] == "completed", json.dumps([(j["id"], j["status"], j["error"]) for j in status["jobs"]])
        url = status["result"]["url"]
        assert url.startswith(server.backend_url + "/"), url
        [reframed] = next(job for job in status["jobs"] if job["id"] == "job6")["result"]["outputs"]
        assert reframed["url"] == url
        # And it downloads without the API key, as the file the status describes
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the local backend
            assert response.headers["Content-Type"] == "video/mp4"
            (tmp_path / "final.mp4").write_bytes(response.read())
        assert (tmp_path / "final.mp4").stat().st_size == reframed["bytes"]
        # And it is a playable 9:16 H.264 video of the merged length
        video = probe(tmp_path / "final.mp4")
        assert (video.kind, video.video_codec, video.pixel_format) == ("video", "h264", "yuv420p")
        assert video.width / video.height == pytest.approx(9 / 16, abs=0.01)
        assert (video.width, video.height) == (reframed["width"], reframed["height"])
        assert video.duration == pytest.approx(2.0, abs=1 / 24)
        assert reframed["durationSeconds"] == pytest.approx(video.duration, abs=1 / 24)
