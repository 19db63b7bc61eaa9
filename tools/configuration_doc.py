"""`make docs`: writes docs/configuration.md from template.yaml (parameters, each function's environment,
outputs) and the Makefile (make run's own variables), so the documented values cannot drift from the real ones."""

from __future__ import annotations

import re
import sys
from typing import Any

from execution_api.core import limits
from local.stack import LOCAL_RUNNER_SETTINGS, SHELL_SETTINGS
from local.template import ROOT, Template

OUTPUT = ROOT / "docs" / "configuration.md"

# What each environment variable means. Values live in template.yaml; tests/test_configuration_doc.py
# fails when the template declares a variable that has no line here.
MEANINGS = {
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "`false`: X-Ray gets timings and errors, never response bodies",
    "MAX_PARALLEL_JOBS": "Most jobs of one execution running at once (the Map's MaxConcurrency, at most 40)",
    "JOB_TIMEOUT_SECONDS": "A job attempt that has not reported within this time fails (a generation job's: "
    "`PROVIDER_JOB_TIMEOUT_SECONDS`)",
    "PROVIDER_JOB_TIMEOUT_SECONDS": "The same for a generation job, which may wait on a provider's prediction (a long "
    "video; [providers.md](providers.md#callbacks-not-waiting))",
    "JOB_HEARTBEAT_SECONDS": "A worker silent this long is presumed dead; the attempt is retried",
    "EXECUTION_TIMEOUT_SECONDS": "An execution still running after this long fails",
    "SIMULATED_JOB_MS": "How long the simulated executor takes per job (params.simulate overrides)",
    "STATE_MACHINE_ARN": "The state machine that runs executions ([engine.md](engine.md))",
    "WEBHOOK_QUEUE_URL": "The queue of webhook delivery attempts ([webhooks.md](webhooks.md))",
    "WEBHOOK_RETRY_SCHEDULE": "Seconds before each webhook retry, comma-separated (jitter ±20 %)",
    "WEBHOOK_TIMEOUT_SECONDS": "One webhook attempt's time limit",
    "POWERTOOLS_SERVICE_NAME": "Logger and Metrics service name",
    "POWERTOOLS_METRICS_NAMESPACE": "CloudWatch namespace of the metrics",
    "POWERTOOLS_LOG_LEVEL": "Log level",
    "EXECUTIONS_TABLE_NAME": "The executions table",
    "MAX_JOBS": "Most jobs per plan (`too_many_jobs` above it)",
    "ALLOWED_OPERATIONS": "Comma-separated operations custom workers run, accepted besides the built-in ones "
    "(`operation_not_allowed` for any other)",
    "SIMULATED_EXECUTOR": "`true` runs params.simulate and unknown operations on the simulated executor, and intake "
    "accepts any operation name (`make run`, tests)",
    "LOCAL_PROVIDERS": "`true` runs the generation operations on the media worker's local provider (`make run`)",
    "DEFAULT_MODELS": "Comma-separated `operation=modelId` pairs: the model of a generation job that names none "
    "(`model_required` where neither this nor `LOCAL_PROVIDERS` gives one; [providers.md](providers.md))",
    "REPLICATE_API_URL": "Replicate's API base URL: a proxy, or a local fake ([providers.md](providers.md))",
    "FAL_QUEUE_URL": "fal's queue base URL: a proxy, or a local fake",
    "FAL_JWKS_URL": "Where fal publishes the ED25519 keys its callbacks are signed with (cached for a day)",
    "ELEVENLABS_API_URL": "ElevenLabs' API base URL: a proxy, or a local fake",
    "PROVIDER_CALLBACK_BASE_URL": "This API's public base URL, for providers' callbacks; empty: no callbacks, the "
    "poller finds each result ([providers.md](providers.md))",
    "PROVIDER_KEY_SECRET_PREFIX": "The deployment's own provider keys are the Secrets Manager secrets named "
    "`<prefix><provider>`, where they exist; empty: `<STACK_NAME>/providers/<provider>`",
    "STACK_NAME": "The stack's name: where the deployment's provider keys are when `PROVIDER_KEY_SECRET_PREFIX` is "
    "empty ([providers.md](providers.md))",
    "LOCAL_STAND_INS": "Where `LOCAL_PROVIDERS` is `true`: `false` fails a provider job with no key (as deployed) "
    "instead of running it on the local provider ([providers.md](providers.md))",
    "PROVIDER_POLL_SECONDS": "How often a pending prediction is read when no callback came (and the task heartbeated)",
    "WORK_QUEUE_URL": "The work queue: generation on real providers, simulated jobs ([engine.md](engine.md))",
    "MEDIA_QUEUE_URL": "The media worker's queue ([engine.md](engine.md))",
    "CUSTOM_QUEUE_URL": "AllowedOperations' queue, for your own worker ([engine.md](engine.md#custom-operations))",
    "OUTPUTS_BUCKET_NAME": "The bucket of job outputs ([api.md](api.md))",
    "OUTPUT_URL_EXPIRY_SECONDS": "Lifetime of the presigned GET URLs of outputs",
    "MAX_INPUT_BYTES": "Largest media input a job may download",
    "INPUT_TIMEOUT_SECONDS": "Longest a media input's download may take, redirects included",
    "ALLOW_INSECURE_INPUTS": "`true` lets `http` and loopback input hosts through (local fakes only)",
    "MAX_JOB_PARAMS_BYTES": "Most bytes of one job's `params`, serialized (`params_too_large`)",
    "MAX_BODY_BYTES": "Most bytes of a request body (`413 payload_too_large`)",
    "EXECUTION_RETENTION_DAYS": "Days until an execution's items expire (DynamoDB TTL)",
    "ALLOW_INSECURE_WEBHOOKS": "`true` lets `http` and loopback webhook hosts through (local experiments only)",
    "CORS_ALLOW_ORIGINS": "Comma-separated browser origins allowed by CORS; empty sends no CORS header",
    "AWS_ENDPOINT_URL": "Empty when deployed (boto3 uses the real endpoints); set by `make run`, `make invoke` "
    "and `sam local` to point the functions at the local backend",
    "CREDENTIAL_KEY_ID": "The KMS key that seals every stored credential (webhook secrets, provider keys, tokens)",
    "IDEMPOTENCY_TABLE_NAME": "Powertools' idempotency records",
    "API_KEYS_TABLE_NAME": "API key hashes and their tenants",
    "POWERTOOLS_TRACE_DISABLED": "`true` never loads the X-Ray SDK (the API functions' default, parameter "
    "`ApiFunctionsTraceDisabled`): Lambda's own segments only, a faster cold start",
    "MEDIA_FFMPEG_TIMEOUT_SECONDS": "The time all ffmpeg runs of one media job may take (default 780); over it "
    "the job fails ([operations.md](operations.md))",
    "MEDIA_X264_PRESET": "x264 preset of the media worker's encodes (`veryfast`; slower presets give smaller files)",
    "IMAGEIO_FFMPEG_EXE": "An ffmpeg to use instead of imageio-ffmpeg's own (empty: its own)",
}

# The limits of execution_api/core/limits.py that no variable changes; tests/test_configuration_doc.py fails
# when one has no line here.
FIXED_LIMITS = {
    "MAX_JOB_ID_LENGTH": "Characters of a job id, each of `A-Z a-z 0-9 . _ : -` (`invalid_job_id`)",
    "MAX_OPERATION_LENGTH": "Characters of an operation: a letter, then letters, digits, `_ . : -` "
    "(`invalid_operation`)",
    "MAX_OUTPUT_LENGTH": "Characters of a job's `output` (`invalid_output`)",
    "MAX_PROVIDER_NAME_LENGTH": "Characters of one name in `providerApiKeys`, each of `A-Z a-z 0-9 . _ : -` "
    "(`invalid_provider_api_key`)",
    "MAX_PROVIDER_KEY_LENGTH": "Characters of one key in `providerApiKeys` (`invalid_provider_api_key`)",
    "MAX_WEBHOOK_URL_LENGTH": "Characters of a webhook URL (`invalid_webhook_url`)",
    "MAX_WEBHOOK_SECRET_LENGTH": "Characters of a webhook secret (`invalid_webhook_secret`)",
    "MAX_IDEMPOTENCY_KEY_LENGTH": "Characters of an `Idempotency-Key`, each visible ASCII "
    "(`400 invalid_idempotency_key`)",
    "DEFAULT_URL_EXPIRY_SECONDS": "Seconds an output's presigned link lasts when `OUTPUT_URL_EXPIRY_SECONDS` is "
    "not set",
    "MIN_URL_EXPIRY_SECONDS": "The fewest seconds `OUTPUT_URL_EXPIRY_SECONDS` may be (a shorter value fails the "
    "function's cold start)",
    "MAX_URL_EXPIRY_SECONDS": "The most seconds `OUTPUT_URL_EXPIRY_SECONDS` may be: SigV4's 7 days",
}

# make run's own variables (read by the Makefile and local/server.py, not by the functions).
MAKE_RUN = {
    "PORT": "The API's port",
    "MOTO_PORT": "The backend's port (ministack, or moto with `BACKEND=moto`)",
    "BACKEND": "`ministack` (installed into its own `.venv-ministack` on first use), or `moto` (`make test`'s backend)",
    "MOTO_HOST": "The address the backend listens on; `0.0.0.0` for `sam local` on Docker Engine for Linux "
    "([local-development.md](local-development.md))",
    "LOCAL_API_KEY": "Turns authentication on, with this key valid for tenant `local` ([security.md](security.md))",
}
MAKE_RUN_DEFAULTS = {"MOTO_HOST": "127.0.0.1", "LOCAL_API_KEY": "unset: authentication off"}


def render(template: Template, makefile: str) -> str:
    parameters: dict[str, dict[str, Any]] = template.document.get("Parameters", {})
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `make docs` (python -m tools.configuration_doc) from template.yaml and the Makefile;",
        "     tests/test_configuration_doc.py fails when it is stale. Edit the generator, not this file. -->",
        "",
        "Everything here is read from `template.yaml` and the `Makefile`; `make docs` rewrites this page.",
        "`samconfig.toml` overrides some parameters per environment (its `parameter_overrides`).",
        "",
        *_parameters_section(parameters),
        *_environment_section(template, parameters),
        *_fixed_limits_section(),
        *_outputs_section(template),
        *_make_run_section(makefile),
    ]
    return "\n".join(lines) + "\n"


def _parameters_section(parameters: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "## Template parameters",
        "",
        "Given at deploy time (`sam deploy --parameter-overrides`, or `samconfig.toml`).",
        "",
        "| Parameter | Default | Allowed | Meaning |",
        "|---|---|---|---|",
    ]
    for name, parameter in parameters.items():
        lines.append(
            f"| `{name}` | {_code(parameter.get('Default', ''))} | {_allowed(parameter)} | "
            f"{parameter.get('Description', '')} |"
        )
    return lines


def _environment_section(template: Template, parameters: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## The functions' environment",
        "",
        "Each function reads the ones it needs into its own settings (`execution_api/core/settings.py`, the",
        "engine's in `engine/settings.py`, the providers' in `providers/settings.py`; the API path's, read without",
        "pydantic, in `execution_api/api/authorizer.py`, `api/status.py`, `api/cors.py` and `storage/outputs.py`)",
        "when its handler is imported, at cold start: a missing or malformed variable fails the start, naming it,",
        "never a request.",
        "`make run` and `make invoke` take them from the template, parameters at their defaults; the",
        "ones marked *shell* can be overridden from your shell for a local experiment (`MAX_JOBS=1 make run`),",
        "and `make run` says which it took. Table, key and function names always come from the template.",
        "",
        "| Variable | Functions | Value in `template.yaml` | Default | Local override | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    shared = template.document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    declared: dict[str, tuple[Any, list[str]]] = {}
    for function in template.functions():
        for variable, value in function.environment.items():
            declared.setdefault(variable, (value, []))[1].append(function.logical_id)
    for variable, (value, users) in declared.items():
        where = "all (Globals)" if variable in shared else ", ".join(f"`{u}`" for u in users)
        local = (
            "shell"
            if variable in SHELL_SETTINGS
            else ("set by the runner" if variable in LOCAL_RUNNER_SETTINGS else "")
        )
        lines.append(
            f"| `{variable}` | {where} | {_value(value)} | {_default(value, parameters)} | {local} | "
            f"{MEANINGS.get(variable, '')} |"
        )
    return [*lines, "", "Locally `POWERTOOLS_TRACE_DISABLED=true` is added, because there is no X-Ray daemon."]


def _fixed_limits_section() -> list[str]:
    lines = [
        "",
        "## Fixed limits",
        "",
        "Limits no variable changes (`execution_api/core/limits.py`, which also holds the defaults above).",
        "",
        "| Limit | Value | Meaning |",
        "|---|---|---|",
    ]
    return lines + [f"| `{name}` | `{getattr(limits, name)}` | {meaning} |" for name, meaning in FIXED_LIMITS.items()]


def _outputs_section(template: Template) -> list[str]:
    lines = ["", "## Stack outputs", "", "What `sam deploy` prints (and `make api-key` reads).", ""]
    lines += ["| Output | Meaning |", "|---|---|"]
    for name, output in template.document.get("Outputs", {}).items():
        lines.append(f"| `{name}` | {output.get('Description', '')} |")
    return lines


def _make_run_section(makefile: str) -> list[str]:
    defaults = dict(re.findall(r"^(\w+) \?= (.*)$", makefile, re.MULTILINE))
    lines = [
        "",
        "## make run",
        "",
        "From the command line (`make run PORT=3111 MOTO_PORT=5111`) or the shell.",
        "",
        "| Variable | Default | Meaning |",
        "|---|---|---|",
    ]
    for variable, meaning in MAKE_RUN.items():
        default = defaults.get(variable) or MAKE_RUN_DEFAULTS.get(variable, "")
        lines.append(f"| `{variable}` | {_code(default)} | {meaning} |")
    return lines


def _code(value: Any) -> str:
    text = str(value)
    return f"`{text}`" if text else "empty"


def _allowed(parameter: dict[str, Any]) -> str:
    if "AllowedValues" in parameter:
        values = [str(v) for v in parameter["AllowedValues"]]
        if len(values) <= 6:
            return ", ".join(values)
        # Say what the values are from the values themselves, never from another parameter's meaning.
        if all(v.isdigit() for v in values) and [int(v) for v in values] == list(
            range(int(values[0]), int(values[-1]) + 1)
        ):
            return f"{values[0]} to {values[-1]}"
        return f"one of {len(values)} values, {values[0]} ... {values[-1]}"
    if "MinValue" in parameter:
        return f">= {parameter['MinValue']}"
    return "any"


def _value(value: Any) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return f"`!Ref {value['Ref']}`"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"`!GetAtt {'.'.join(value['Fn::GetAtt'])}`"
    if isinstance(value, dict) and "Fn::If" in value:
        condition, then, otherwise = value["Fn::If"]
        return f"{condition}: {_value(then)}, else {_value(otherwise)}"
    return _code(value)


def _default(value: Any, parameters: dict[str, dict[str, Any]]) -> str:
    if isinstance(value, dict) and value.get("Ref") in parameters:
        return _code(parameters[value["Ref"]].get("Default", ""))
    if isinstance(value, dict):
        return "made at deploy"
    return _code(value)


def main() -> int:
    text = render(Template(), (ROOT / "Makefile").read_text())
    if "--check" in sys.argv[1:]:
        return 0 if OUTPUT.exists() and OUTPUT.read_text() == text else 1
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
