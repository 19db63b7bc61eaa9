"""The model map (execution_api.providers.catalog, models.json) and intake's model checks: an unknown model or
provider is a 422 naming what exists, hume is refused as shut down, no model runs on the deployment default
(the local provider under make run), and jobs the simulated executor runs are not checked."""

from __future__ import annotations

from typing import Any

import pytest

from execution_api.core.operations import GENERATION_OPERATIONS
from execution_api.intake.rules import PlanLimits, check_plan
from execution_api.intake.validation import plan_from_body
from execution_api.models.plan import ExecutionPlan
from execution_api.providers import catalog
from execution_api.providers.catalog import LOCAL, ModelProblem, provider_input, provider_model, route


def plan(*jobs: dict[str, Any]) -> ExecutionPlan:
    found = plan_from_body({"executionPlan": {"jobs": [{"id": f"job{i}", **job} for i, job in enumerate(jobs, 1)]}})
    assert found is not None
    return found


def problems(limits: PlanLimits, *jobs: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(v.pointer, v.code, v.message) for v in check_plan(plan(*jobs), limits)]


DEPLOYED = PlanLimits(check_models=True)


def test_every_model_of_the_map_runs_a_generation_operation_on_a_known_provider() -> None:
    for operation in sorted(GENERATION_OPERATIONS):
        for model_id in catalog.models_of(operation):
            entry = catalog.model(model_id)
            assert entry is not None
            assert set(entry["operations"]) <= GENERATION_OPERATIONS
            assert set(entry["providers"]) <= set(catalog.providers())
            found = route(operation, {"modelId": model_id}, {}, local_providers=False)
            assert found.model_id == model_id


@pytest.mark.parametrize(
    ("params", "code", "words"),
    [
        (
            {"modelId": "acme/video-9"},
            "unknown_model",
            ["'acme/video-9'", "bytedance/seedance-1-pro", "minimax/video-01"],
        ),
        ({"modelId": "bytedance/seedream-4"}, "unknown_model", ["does not run operation 'generate'"]),
        ({"provider": "acme", "modelId": "minimax/video-01"}, "unknown_provider", ["elevenlabs, fal, replicate"]),
        ({"provider": "fal", "modelId": "minimax/video-01"}, "unknown_provider", ["runs on replicate"]),
        ({"provider": "hume", "modelId": "hume/tts"}, "provider_shut_down", ["shut down", "elevenlabs"]),
        ({"modelId": 7}, "unknown_model", ["of the wrong type"]),
        ({"prompt": "a cat"}, "model_required", ["no default model", "bytedance/seedance-1-pro"]),
    ],
)
def test_a_model_or_provider_not_in_the_map_is_a_422_naming_what_exists(
    params: dict[str, Any], code: str, words: list[str]
) -> None:
    found = problems(DEPLOYED, {"type": "generate", "params": params})
    assert len(found) == 1
    pointer, got_code, message = found[0]
    assert got_code == code
    assert pointer.startswith("/executionPlan/jobs/0/params/")
    for word in words:
        assert word in message


def test_hume_is_refused_for_audio_too_and_names_the_field() -> None:
    found = problems(DEPLOYED, {"type": "generateAudio", "params": {"provider": "hume", "text": "hi"}})
    assert found == [
        ("/executionPlan/jobs/0/params/provider", "provider_shut_down", catalog._map()["shutDown"]["hume"])
    ]


def test_no_model_runs_on_the_deployment_default_then_the_local_provider() -> None:
    defaults = {"generate": "minimax/video-01"}
    assert route("generate", {}, defaults, local_providers=False).model_id == "minimax/video-01"
    assert route("generate", {}, {}, local_providers=True) == catalog.Route(LOCAL, None, {})
    assert route("generateAudio", {"provider": "elevenlabs"}, {}, local_providers=False).model_id == (
        "elevenlabs/turbo-v2.5"
    )
    # Naming only the provider: the deployment's default when it runs there, else that provider's first model
    assert route("generate", {"provider": "replicate"}, defaults, local_providers=False).model_id == (
        "minimax/video-01"
    )
    assert route("generate", {"provider": "replicate"}, {}, local_providers=False).model_id == (
        "bytedance/seedance-1-pro"
    )
    assert route("generate", {"provider": "fal"}, defaults, local_providers=False).model_id == "veed/fabric-1.0"
    limits = PlanLimits(check_models=True, default_models=tuple(defaults.items()))
    assert problems(limits, {"type": "generate", "params": {"prompt": "x"}}) == []
    assert (
        problems(PlanLimits(check_models=True, local_providers=True), {"type": "generate", "params": {"prompt": "x"}})
        == []
    )


def test_a_bad_default_is_caught_as_the_model_it_names() -> None:
    with pytest.raises(ModelProblem) as caught:
        route("generate", {}, {"generate": "acme/none"}, local_providers=False)
    assert caught.value.code == "unknown_model"


def test_simulated_jobs_skip_the_model_checks_only_where_the_simulated_executor_runs() -> None:
    job = {"type": "generate", "params": {"modelId": "acme/none", "simulate": {"ms": 1}}}
    assert problems(PlanLimits(check_models=True, simulated_executor=True), job) == []
    assert [code for _, code, _ in problems(DEPLOYED, job)] == ["unknown_model"]


def test_pinned_version_aliases_name_the_same_model() -> None:
    alias = "openai/whisper:8099696689d249cf8b122d833c36ac3f75505c666a395ca40ef26f68e7d3d16e"
    found = route("transcribe", {"modelId": alias}, {}, local_providers=False)
    assert (found.provider, found.model_id) == ("replicate", "openai/whisper")


def test_unified_options_become_the_models_fields_and_native_ones_pass_through() -> None:
    # OPERATIONS.md 4.2: Seedance takes aspect_ratio, image (startImage), last_frame_image, camera_fixed.
    spec = route("generate", {"modelId": "bytedance/seedance-1-pro"}, {}, local_providers=False).spec
    params = {
        "provider": "replicate", "modelId": "bytedance/seedance-1-pro", "apiKey": "r8_secret", "unified": True,
        "prompt": "a cat", "duration": 5, "aspectRatio": "9:16", "startImage": "https://x/a.png",
        "endImage": "https://x/b.png", "cameraMotion": "fixed", "seed": 3, "fps": 24,
    }  # fmt: skip
    built = provider_input(spec, params, [])
    assert built == {
        "prompt": "a cat", "duration": 5, "aspect_ratio": "9:16", "image": "https://x/a.png",
        "last_frame_image": "https://x/b.png", "camera_fixed": True, "seed": 3, "fps": 24,
    }  # fmt: skip
    assert provider_model(spec, built) == "bytedance/seedance-1-pro"


def test_fal_images_use_the_edit_model_and_jpeg_and_fabric_clamps_resolution() -> None:
    spec = route("generateImage", {"provider": "fal", "modelId": "google/nano-banana"}, {}, local_providers=False).spec
    built = provider_input(spec, {"prompt": "p", "image": "https://x/a.png", "outputFormat": "jpg"}, [])
    assert built == {"prompt": "p", "image_urls": ["https://x/a.png"], "output_format": "jpeg"}
    assert provider_model(spec, built) == "fal-ai/nano-banana/edit"
    assert provider_model(spec, provider_input(spec, {"prompt": "p"}, [])) == "fal-ai/nano-banana"
    fabric = route("lipSync", {"modelId": "veed/fabric-1.0"}, {}, local_providers=False).spec
    assert provider_input(fabric, {"image": "i", "audioUrl": "a", "resolution": "1080p"}, []) == {
        "image_url": "i",
        "audio_url": "a",
        "resolution": "720p",
    }


def test_a_chained_input_comes_from_the_dependency_and_fixed_fields_win() -> None:
    spec = route("removeBackground", {"modelId": "arielreplicate/robust_video_matting"}, {}, local_providers=False).spec
    assert provider_input(spec, {}, ["s3://b/k.mp4"]) == {"input_video": "s3://b/k.mp4", "output_type": "green-screen"}
    minimax = route("generate", {"modelId": "minimax/video-01"}, {}, local_providers=False).spec
    assert provider_input(minimax, {"prompt": "p", "prompt_optimizer": False}, []) == {
        "prompt": "p",
        "prompt_optimizer": True,
    }
