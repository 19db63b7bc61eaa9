"""`make fuzz`: schemathesis against `make run`, from the committed OpenAPI document (docs/openapi.json).

schemathesis lives in its own venv (.venv-fuzz, from requirements-fuzz.txt) because its pins clash with
the application's; this script runs with the application's python, starts `make run` on free loopback
ports (BACKEND passed through, default ministack) and runs the schemathesis CLI against it for a bounded
number of examples per operation (FUZZ_EXAMPLES, default 100; FUZZ_SEED to replay a run). It passes
when schemathesis finds nothing and no answer in its HAR record of every exchange is a 5xx.

What it checks and what it leaves out, and why: docs/testing.md, "What make fuzz checks".
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load import ROOT, make_run

SCHEMATHESIS = ROOT / ".venv-fuzz" / "bin" / "schemathesis"
SCHEMA = ROOT / "docs" / "openapi.json"
RUN_TIMEOUT = 900  # seconds for the whole schemathesis run; FUZZ_EXAMPLES=100 takes about 2 minutes
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
)


def har_summary(har_path: Path) -> tuple[int, Counter[int], list[str]]:
    """(exchanges, status counts, the 5xx ones) from schemathesis's HAR record of every exchange."""
    entries: list[dict[str, Any]] = json.loads(har_path.read_text())["log"]["entries"]
    statuses: Counter[int] = Counter(e["response"]["status"] for e in entries)
    server_errors = [
        f"{e['request']['method']} {e['request']['url']} -> {e['response']['status']}"
        f" ({e['response']['content'].get('mimeType', '?')})"
        for e in entries
        if e["response"]["status"] >= 500
    ]
    return len(entries), statuses, server_errors


def main() -> int:
    if not SCHEMATHESIS.exists():
        raise SystemExit(f"{SCHEMATHESIS} is missing: run `make fuzz` (it creates .venv-fuzz)")
    backend = os.environ.get("BACKEND") or "ministack"
    examples = int(os.environ.get("FUZZ_EXAMPLES") or 100)
    seed = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    api_key = "fuzz_" + secrets.token_urlsafe(24)  # matches the authorizer's ValidationExpression
    print(f"make fuzz: backend={backend} examples per operation={examples} seed={seed}", flush=True)

    # schemathesis writes .hypothesis/ and .schemathesis/ (a crash cache) into its working directory:
    # a scratch one, so runs do not leak state into each other or into the repository.
    with tempfile.TemporaryDirectory(prefix="fuzz-") as scratch, make_run(backend, {"LOCAL_API_KEY": api_key}) as api:
        print(f"make run up on {api.url} with authentication on; {api.banner_backend()}", flush=True)
        har = Path(scratch) / "exchanges.har.json"
        command = [
            str(SCHEMATHESIS),
            "run",
            str(SCHEMA),
            f"--url={api.url}",
            f"--header=Authorization: Bearer {api_key}",
            f"--checks={','.join(CHECKS)}",
            f"--max-examples={examples}",
            f"--seed={seed}",
            "--continue-on-failure",  # one finding must not hide the next one in the same scenario
            "--request-timeout=30",
            "--generation-database=none",
            "--no-color",
            "--report=har",
            f"--report-har-path={har}",
        ]
        try:
            completed = subprocess.run(command, cwd=scratch, timeout=RUN_TIMEOUT, check=False)  # noqa: S603
            returncode = completed.returncode
        except subprocess.TimeoutExpired:
            print(f"schemathesis did not finish within {RUN_TIMEOUT} s", file=sys.stderr)
            returncode = -1
        exchanges, statuses, server_errors = har_summary(har) if har.exists() else (0, Counter(), [])
        api.keep_log = returncode != 0 or bool(server_errors)

    print(
        "\n".join(
            [
                "",
                f"## make fuzz: {backend}",
                "",
                "| backend | examples/operation | seed | exchanges | 2xx | 4xx | 5xx | schemathesis exit |",
                "|---|---:|---:|---:|---:|---:|---:|---:|",
                f"| {backend} | {examples} | {seed} | {exchanges}"
                f" | {sum(n for s, n in statuses.items() if 200 <= s < 300)}"
                f" | {sum(n for s, n in statuses.items() if 400 <= s < 500)}"
                f" | {len(server_errors)} | {returncode} |",
                "",
                f"Statuses: {dict(sorted(statuses.items()))}",
            ]
        )
    )
    for line in sorted(set(server_errors))[:20]:
        print(f"  5xx: {line}")
    if returncode != 0 or server_errors:
        print(f"\nFAILED: see schemathesis's report above; replay with FUZZ_SEED={seed}", file=sys.stderr)
        return 1
    print("\nOK: no 5xx, and every response matches the documented status, content type and schema.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
