"""Cold start of the built artifacts (`make build`'s .aws-sam/build) under Python 3.13, with and without
the layer's bytecode (docs/deployment.md, "How the layer is built").

The built layer holds aarch64 wheels, which do not load on this x86_64 machine. So the benchmark installs
the same locked versions (layers/shared/requirements-lock.txt, hashes checked) for this machine into a
temporary folder, copies the built layer's execution_api next to them and compiles everything exactly as
layers/shared/Makefile does (`compileall --invalidation-mode unchecked-hash`). Each handler module is then
imported in fresh interpreters with the built function folder and that layer on the path:
- *with bytecode*: the layer's unchecked-hash .pyc files are used as they are;
- *without bytecode*: the same tree, but `PYTHONPYCACHEPREFIX` points at an empty folder, so every module
  is compiled from source, as Lambda did with the old layer (no .pyc, read-only /opt).
Both runs set `PYTHONDONTWRITEBYTECODE=1`: in Lambda nothing can be written next to the code either.

Issue 26 (cold starts of the API path): the authorizer and status functions are also imported as they were
at BASELINE (the revision before the X-Ray SDK became optional), from `git archive` of that revision's
execution_api and function folders, with the same layer packages, compiled the same way. Today's and the
baseline's imports alternate in one run, so both see the same machine load; the target is at most half.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from local.template import REGION, ROOT, Template

BUILD = ROOT / ".aws-sam" / "build"
LOCK = ROOT / "layers" / "shared" / "requirements-lock.txt"
LAYER = "SharedLayer"
RUNS = 5
# The revision before issue 26 made the X-Ray SDK optional (and cut boto3 and the data classes from the API path).
BASELINE = "4b8261f"
BASELINE_FUNCTIONS = ("AuthorizerFunction", "ExecutionStatusFunction")
BASELINE_RUNS = 15  # each way: the load of a shared machine only adds time, so the best of more runs is steadier
# What both API functions import and cannot shed while they call AWS with botocore and log with Powertools:
# botocore's session (its client loads botocore.docs through botocore.waiter, and urllib3) and Powertools'
# package (its __init__ loads Logger, Metrics and Tracer, whatever is imported from it).
FLOOR = "botocore.session, aws_lambda_powertools"
# The packages the layer would not need if it used the Lambda runtime's boto3.
BOTO_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
# Timed inside the interpreter: the import and the first client (which loads botocore's service model).
BOTO3_AND_A_CLIENT = (
    "import time; start = time.perf_counter(); import boto3; "
    f"boto3.client('dynamodb', region_name='{REGION}'); print(time.perf_counter() - start)"
)


# The import's process CPU time and wall time, printed by the interpreter itself: CPU time grows far less
# than wall time with the load of a shared machine.
CPU_AND_WALL = (
    "import time; cpu, wall = time.process_time(), time.perf_counter(); import {module}; "
    "print(time.process_time() - cpu, time.perf_counter() - wall)"
)


@dataclass
class Compared:
    """One function's import times (seconds) as at BASELINE and as built today, wall and CPU, per run."""

    name: str
    then: list[float] = field(default_factory=list)
    now: list[float] = field(default_factory=list)
    then_cpu: list[float] = field(default_factory=list)
    now_cpu: list[float] = field(default_factory=list)
    # FLOOR alone, CPU, in the same runs: what the function imports that is neither its code nor avoidable
    floor_cpu: list[float] = field(default_factory=list)


@dataclass
class BuiltColdStart:
    name: str  # handler module, or a label
    with_bytecode: list[float]  # seconds, the module's cumulative import time per fresh interpreter
    without_bytecode: list[float]

    @property
    def ratio(self) -> float:
        return median(self.with_bytecode) / median(self.without_bytecode)


@dataclass
class BuiltReport:
    python: str
    rows: list[BuiltColdStart]
    boto: BuiltColdStart
    layer_zip_bytes: int
    boto_zip_bytes: int
    layer_unzipped_bytes: int
    boto_unzipped_bytes: int
    pycs: int
    unchecked_pycs: int
    skipped: str = ""
    # each function as at BASELINE and today, alternated in one run; None without that revision
    against_baseline: list[Compared] | None = None


def python313() -> str | None:
    """python3.13 from PATH, or from pyenv's versions (PYENV_VERSION=3.11.7:3.13.0 puts it on PATH)."""
    found = shutil.which("python3.13")
    if found:  # a pyenv shim is a script: the real interpreter, so fresh runs measure Python alone
        # A shim of a version PYENV_VERSION does not select fails: then look in pyenv's versions.
        with contextlib.suppress(RuntimeError):
            return run([found, "-c", "import sys; print(sys.executable)"]).stdout.strip()
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(pyenv.glob("3.13*/bin/python3.13"), reverse=True):
        return str(candidate)
    return None


def run(args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    return done


def pyc_flags(tree: Path) -> tuple[int, int]:
    """(.pyc files, those with the unchecked-hash flag) under a tree: PEP 552 flags word, bit 0 set, bit 1 clear."""
    total = unchecked = 0
    for pyc in tree.rglob("*.pyc"):
        total += 1
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        unchecked += flags == 0b01
    return total, unchecked


def zipped_size(tree: Path, only: Sequence[str] = ()) -> tuple[int, int]:
    """(deflated zip bytes, unzipped bytes) of a tree, or of its top-level entries in `only`, as SAM zips."""
    unzipped = 0
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(tree.rglob("*")):
                relative = path.relative_to(tree)
                if only and relative.parts[0] not in only:
                    continue
                if path.is_file():
                    archive.write(path, relative)
                    unzipped += path.stat().st_size
        return handle.tell(), unzipped


@contextmanager
def native_twin(python: str) -> Iterator[Path]:
    """The built layer for this machine: the same pins, the built execution_api, compiled as the Makefile does."""
    with tempfile.TemporaryDirectory(prefix="layer-x86_64-") as folder:
        target = Path(folder) / "python"
        run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--no-deps",
                "--require-hashes",
                "--only-binary=:all:",
                "--target",
                str(target),
                "-r",
                str(LOCK),
            ]
        )
        shutil.copytree(BUILD / LAYER / "python" / "execution_api", target / "execution_api")
        for cache in list(target.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
        run([python, "-m", "compileall", "-q", "-f", "-j", "0", "--invalidation-mode", "unchecked-hash", str(target)])
        yield target


@contextmanager
def baseline_tree(python: str) -> Iterator[Path | None]:
    """BASELINE's execution_api (compiled like the layer) and function folders, or None without that revision."""
    try:
        archive = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "archive", "--format=tar", BASELINE, "layers/shared/execution_api", "functions"],  # noqa: S607
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="baseline-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        layer = Path(folder) / "layers" / "shared"
        run([python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(layer)])
        yield Path(folder)


def against_baseline(python: str, template: Template, layer: Path, baseline: Path) -> list[Compared]:
    """Each of BASELINE_FUNCTIONS imported BASELINE_RUNS times as at BASELINE and as built today, alternately."""
    results = []
    for function in (f for f in template.functions() if f.logical_id in BASELINE_FUNCTIONS):
        module = function.handler.rsplit(".", 1)[0]
        environment = template.offline_environment(function)
        # The baseline's execution_api comes first on the path; the layer's packages are the same.
        then = [baseline / "layers" / "shared", layer, baseline / function.code_dir.relative_to(ROOT)]
        now = [layer, BUILD / function.logical_id]
        compared = Compared(function.logical_id)
        floor_wall: list[float] = []
        for _ in range(BASELINE_RUNS):
            for path, imported, wall, cpu in (
                (then, module, compared.then, compared.then_cpu),
                (now, module, compared.now, compared.now_cpu),
                (now, FLOOR, floor_wall, compared.floor_cpu),  # the same path: only the import differs
            ):
                done = run([python, "-c", CPU_AND_WALL.format(module=imported)], interpreter_env(path, environment))
                seconds_cpu, seconds = (float(part) for part in done.stdout.split())
                wall.append(seconds)
                cpu.append(seconds_cpu)
        results.append(compared)
    return results


def interpreter_env(path: Sequence[Path], environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """A fresh interpreter's environment: `path` on PYTHONPATH, Lambda's variables, then `environment` (a
    handler checks its function's settings when imported)."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(str(p) for p in path),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": "execution-api-bench",
            "LAMBDA_TASK_ROOT": str(path[-1]),
            "EXECUTIONS_TABLE_NAME": "ExecutionsTable",
            "POWERTOOLS_SERVICE_NAME": "execution-api",
            "POWERTOOLS_METRICS_NAMESPACE": "ExecutionApi",
            **(environment or {}),
        }
    )
    return env


def import_times(
    python: str,
    statement: str,
    module: str,
    path: Sequence[Path],
    bytecode: bool,
    environment: Mapping[str, str] | None = None,
    runs: int = RUNS,
) -> list[float]:
    """`module`'s cumulative import time (seconds) in RUNS fresh interpreters running `statement`, with
    `environment` added (a handler checks its function's settings when imported)."""
    with tempfile.TemporaryDirectory(prefix="no-pyc-") as empty:
        env = interpreter_env(path, environment)
        if not bytecode:
            env["PYTHONPYCACHEPREFIX"] = empty  # no .pyc found there: every module compiles from source
        times = []
        for _ in range(runs):
            if module == "boto3":  # the statement prints its own time
                times.append(float(run([python, "-c", statement], env).stdout))
                continue
            done = run([python, "-X", "importtime", "-c", statement], env)
            cumulative = [
                int(line.split("|")[1])
                for line in done.stderr.splitlines()
                if line.startswith("import time:") and line.split("|")[2].strip() == module
            ]
            times.append(cumulative[-1] / 1e6)
        return times


def measure() -> BuiltReport | str:
    """The report, or why it was skipped (no build, no python3.13)."""
    python = python313()
    if python is None:
        return "skipped: no python3.13 (with pyenv: PYENV_VERSION=3.11.7:3.13.0 make bench)"
    if not (BUILD / LAYER / "python" / "execution_api").is_dir():
        return "skipped: no built layer; run `PYENV_VERSION=3.11.7:3.13.0 make build` first"
    built_layer = BUILD / LAYER / "python"
    pycs, unchecked = pyc_flags(built_layer)
    layer_zip, layer_unzipped = zipped_size(built_layer)
    boto_zip, boto_unzipped = zipped_size(built_layer, BOTO_PACKAGES)
    version = run([python, "-c", "import sys, platform; print(sys.version.split()[0], platform.machine())"]).stdout
    rows = []
    template = Template()
    with native_twin(python) as layer:
        for function in template.functions():
            module = function.handler.rsplit(".", 1)[0]
            code = BUILD / function.logical_id
            print(f"  built cold start: {module}", file=sys.stderr, flush=True)
            path = [layer, code]
            environment = template.offline_environment(function)
            rows.append(
                BuiltColdStart(
                    f"`{module}` ({function.logical_id})",
                    import_times(python, f"import {module}", module, path, bytecode=True, environment=environment),
                    import_times(python, f"import {module}", module, path, bytecode=False, environment=environment),
                )
            )
        boto = BuiltColdStart(
            "`import boto3` and a first DynamoDB client",
            import_times(python, BOTO3_AND_A_CLIENT, "boto3", [layer], bytecode=True),
            import_times(python, BOTO3_AND_A_CLIENT, "boto3", [layer], bytecode=False),
        )
        with baseline_tree(python) as baseline:
            compared = against_baseline(python, template, layer, baseline) if baseline else None
    return BuiltReport(
        python=version.strip(),
        rows=rows,
        boto=boto,
        layer_zip_bytes=layer_zip,
        boto_zip_bytes=boto_zip,
        layer_unzipped_bytes=layer_unzipped,
        boto_unzipped_bytes=boto_unzipped,
        pycs=pycs,
        unchecked_pycs=unchecked,
        against_baseline=compared,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def render(report: BuiltReport | str) -> list[str]:
    out = ["## Cold start of the built artifacts (Python 3.13), with and without the layer's bytecode", ""]
    if isinstance(report, str):
        return [*out, report, ""]
    out += [
        "Each handler module imported in " + str(RUNS) + " fresh `python3.13` interpreters"
        f" ({report.python}) from the built function folder and an x86_64 twin of the built layer",
        "(same locked versions, the built `execution_api`, compiled like `layers/shared/Makefile`);",
        "`PYTHONDONTWRITEBYTECODE=1` as on Lambda's read-only file system. Median import time;",
        "*without* = every module compiled from source (how the layer without bytecode loaded).",
        f"The built layer holds {report.pycs} .pyc files, {report.unchecked_pycs} of them unchecked-hash.",
        "",
        "| Import | With bytecode | Without | With / without |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in [*report.rows, report.boto]:
        out.append(
            f"| {row.name} | {ms(median(row.with_bytecode))} ms | {ms(median(row.without_bytecode))} ms"
            f" | {row.ratio:.2f} |"
        )
    target = all(row.ratio <= 0.5 for row in report.rows)
    out += [
        "",
        f"- Target, each function at most half the time without bytecode: {'**met**' if target else '**not met**'}.",
        f"- The built layer zips to {mb(report.layer_zip_bytes)} ({mb(report.layer_unzipped_bytes)} unzipped);"
        f" boto3, botocore and their own dependencies ({', '.join(BOTO_PACKAGES)}) are"
        f" {mb(report.boto_zip_bytes)} of it zipped ({mb(report.boto_unzipped_bytes)} unzipped).",
        "",
    ]
    return out + render_against_baseline(report.against_baseline)


def render_against_baseline(compared: list[Compared] | None) -> list[str]:
    out = ["### The API path's cold import against the revision before issue 26", ""]
    if compared is None:
        return [*out, f"skipped: revision {BASELINE} is not in this clone's history.", ""]
    out += [
        f"Each handler imported {BASELINE_RUNS} times as built today (the template's environment: no X-Ray SDK by",
        "default, botocore without boto3, the status route without Powertools' event handler, neither function",
        f"with pydantic) and {BASELINE_RUNS} times as at `{BASELINE}` (Tracer created at import, boto3,",
        "Powertools' event handler and data classes, pydantic settings and models), alternately in one run, with",
        f"bytecode, and between them `import {FLOOR}` alone (*floor*: what both functions import that is",
        "not their code, and cannot shed while they call AWS with botocore). Each interpreter times its own",
        "`import` (wall and process CPU time); medians. Machine load only adds time, and far less to CPU time",
        "than to wall time: on a busy machine CPU time is the steadier figure.",
        "",
        f"| Function | At `{BASELINE}`, wall | Today, wall | Today / then, wall | At `{BASELINE}`, CPU | Today, CPU"
        " | Today / then, CPU | Floor, CPU | Floor / then, CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in compared:
        then, now, then_cpu, now_cpu = (median(t) for t in (row.then, row.now, row.then_cpu, row.now_cpu))
        floor = median(row.floor_cpu)
        out.append(
            f"| {row.name} | {ms(then)} ms | {ms(now)} ms | {now / then:.2f}"
            f" | {ms(then_cpu)} ms | {ms(now_cpu)} ms | {now_cpu / then_cpu:.2f}"
            f" | {ms(floor)} ms | {floor / then_cpu:.2f} |"
        )
    met = all(median(row.now_cpu) / median(row.then_cpu) <= 0.5 for row in compared)
    verdict = "**met**" if met else "**not met**"
    out += ["", f"- Target, at most half of the import at `{BASELINE}` (CPU time, medians): {verdict}.", ""]
    return out


if __name__ == "__main__":
    start = time.perf_counter()
    print("\n".join(render(measure())))
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
