"""The model map (models.json, OPERATIONS.md 4.1 and 4.2): which provider runs each registry model, and how
the SDK's unified options become that model's input fields. Pure: intake checks plans with it (a model or
provider it does not know is a 422, not a failed job minutes later) and the provider worker builds each
prediction's input with it. docs/providers.md lists the models."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

LOCAL = "local"  # the media worker's stand-in provider (make run), execution_api.media
# Params that choose the model or carry credentials: never sent to a provider (OPERATIONS.md section 2).
NOT_INPUT = frozenset({"provider", "modelId", "apiKey", "unified", "sendJobWebhook", "simulate"})


@dataclass(frozen=True)
class Route:
    """Where one generation job runs: a registry model on one provider (or the local provider)."""

    provider: str
    model_id: str | None  # None on the local provider with no model named
    spec: Mapping[str, Any]  # the provider entry of models.json: model or version, fields, fixed, drop


class ModelProblem(Exception):
    """A job that names a model or provider this deployment cannot run: (code, message) for a 422."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@cache
def _map() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((Path(__file__).with_name("models.json")).read_text(encoding="utf-8"))
    aliases = {alias: model_id for model_id, model in loaded["models"].items() for alias in model.get("aliases", ())}
    loaded["aliases"] = aliases
    return loaded


def providers() -> tuple[str, ...]:
    return tuple(_map()["providers"])


def model(model_id: str) -> Mapping[str, Any] | None:
    """The map's entry for a registry id (or one of its pinned-version aliases, `owner/name:version`)."""
    models = _map()["models"]
    found: Mapping[str, Any] | None = models.get(model_id) or models.get(_map()["aliases"].get(model_id, ""))
    return found


def canonical_id(model_id: str) -> str:
    return str(_map()["aliases"].get(model_id, model_id))


def models_of(operation: str) -> list[str]:
    return sorted(i for i, m in _map()["models"].items() if operation in m["operations"])


def route(
    operation: str, params: Mapping[str, Any], default_models: Mapping[str, str], *, local_providers: bool
) -> Route:
    """The provider and model a generation job runs on, or ModelProblem saying what exists."""
    provider, model_id = params.get("provider"), params.get("modelId")
    shut_down: dict[str, str] = _map()["shutDown"]
    for name in (provider, model_id.partition("/")[0] if isinstance(model_id, str) else None):
        if isinstance(name, str) and name in shut_down:
            raise ModelProblem("provider_shut_down", shut_down[name], "provider" if name == provider else "modelId")
    known = (*providers(), LOCAL) if local_providers else providers()
    if provider is not None and provider not in known:
        raise ModelProblem(
            "unknown_provider", f"provider {_name(provider)} is not one of: {', '.join(sorted(known))}", "provider"
        )
    if model_id is None:
        return _default_route(operation, provider, default_models, local_providers=local_providers)
    entry = model(model_id) if isinstance(model_id, str) else None
    if entry is None or operation not in entry["operations"]:
        what = "is not a model this deployment knows" if entry is None else f"does not run operation '{operation}'"
        raise ModelProblem(
            "unknown_model",
            f"model {_name(model_id)} {what}; the models of '{operation}' are: {', '.join(models_of(operation))}",
            "modelId",
        )
    runs_on: dict[str, Any] = entry["providers"]
    if provider == LOCAL:
        return Route(LOCAL, canonical_id(str(model_id)), {})
    chosen = provider if provider is not None else next(iter(runs_on))
    if chosen not in runs_on:
        raise ModelProblem(
            "unknown_provider",
            f"model '{model_id}' runs on {', '.join(runs_on)}, not on '{provider}'",
            "provider",
        )
    return Route(str(chosen), canonical_id(str(model_id)), runs_on[chosen])


def _default_route(operation: str, provider: Any, default_models: Mapping[str, str], *, local_providers: bool) -> Route:
    """No modelId: on a named provider, the deployment's default (DEFAULT_MODELS) when it runs there, else the
    operation's first model there; with no provider, the deployment's default, else the local provider where
    it stands in (make run)."""
    if provider == LOCAL:
        return Route(LOCAL, None, {})
    candidates = models_of(operation)
    if provider is not None:
        candidates = [m for m in candidates if provider in _map()["models"][m]["providers"]]
        preferred = canonical_id(default_models.get(operation, ""))
        candidates.sort(key=lambda m: m != preferred)  # stable: the default first, the rest as they were
    elif operation in default_models:
        if default_models[operation] == LOCAL:
            return Route(LOCAL, None, {})
        candidates = [default_models[operation]]
    elif local_providers:
        return Route(LOCAL, None, {})
    else:
        candidates = []
    if not candidates:
        raise ModelProblem(
            "model_required",
            f"operation '{operation}' names no modelId and this deployment has no default model for it; "
            f"give one of: {', '.join(models_of(operation)) or 'none exists'}",
            "modelId",
        )
    return route(operation, {"provider": provider, "modelId": candidates[0]}, {}, local_providers=local_providers)


def _name(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else "of the wrong type"


def provider_input(
    spec: Mapping[str, Any], params: Mapping[str, Any], dependency_urls: Sequence[str]
) -> dict[str, Any]:
    """The model's input: the provider-native params as given, then each unified option under the model's own
    field name (the original backend drops them for video; we do not), then the fields the model entry fixes."""
    fields: list[dict[str, Any]] = list(spec.get("fields", ()))
    consumed = {name for f in fields for name in f["from"]} | set(spec.get("drop", ())) | NOT_INPUT
    built = {key: value for key, value in params.items() if key not in consumed}
    for field in fields:
        value = next((params[name] for name in field["from"] if params.get(name) is not None), None)
        if value is None and field.get("dependency") and dependency_urls:
            value = dependency_urls[0]  # the SDK's chained form: the input is the dependency's output
        if value is None:
            value = field.get("default")
        if value is None:
            continue
        values: dict[str, Any] = field.get("values", {})
        if isinstance(value, str | bool) and str(value) in values:
            value = values[str(value)]
        if field.get("list") and not isinstance(value, list):
            value = [value]
        built[field["to"]] = value
    built.update(spec.get("fixed", {}))
    return built


def provider_model(spec: Mapping[str, Any], provider_input_: Mapping[str, Any]) -> str:
    """The provider's model path (or pinned version); an image-editing model where input images are given."""
    if spec.get("editModel") and provider_input_.get("image_urls"):
        return str(spec["editModel"])
    return str(spec.get("model") or spec["version"])
