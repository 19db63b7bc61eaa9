"""Every example in README.md and docs/*.md runs as written against `make run`'s server, and shows
what the server really answers. The Markdown conventions this test reads are in docs/testing.md
("Examples in the docs"); in short:

- a ```sh block is run, in document order, in one bash session per document (variables carry over),
  with http://localhost:3000 and http://127.0.0.1:5005 pointed at a fresh server on free ports;
- ```sh skip is shown only (it starts a server, needs Docker, AWS or a deployed stack);
- the first fenced block after a ```sh block, if it is ```http, ```json or ```text, is its shown answer,
  compared with the block's stdout: status and the headers shown, JSON keys, types and values; ids,
  timestamps, request ids and API keys by format;
- ```sh expect=422 marks an example meant to fail: its answer must have that status; a shown failure
  without the marker fails the test;
- varies=status,progress on an answer block compares those keys (at any depth) by type only;
- <!-- docs-test: LOCAL_API_KEY=<key> --> anywhere in a document starts its server with that key;
- the events table (rows starting with `events/<file>.json`) states each event's answer, checked
  through `make invoke`'s code path.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from local import invoke, ministack
from local.stack import forget_cached_configuration
from local.template import ROOT
from tests.support import TEST_BACKEND, running_server

pytestmark = pytest.mark.http

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ANSWER_LANGUAGES = {"http", "json", "text"}
LOCAL_API_URL = "http://localhost:3000"
LOCAL_BACKEND_URL = "http://127.0.0.1:5005"
BLOCK_TIMEOUT_SECONDS = 120
SERVER_SETTING = re.compile(r"<!--\s*docs-test:\s*LOCAL_API_KEY=(\S+)\s*-->")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+)(?P<info>[^`\n]*)$")

# Values compared by format, not by value: they differ on every run.
FORMATS = {
    "timestamp": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "api key": r"exk_[A-Za-z0-9_-]{43}",
    "execution id": r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{21}(?![A-Za-z0-9_-])",
}
ANY_FORMAT = re.compile("|".join(f"(?P<f{i}>{p})" for i, p in enumerate(FORMATS.values())))
PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")  # `<the new key>` in a ```text answer matches any text


# ---- reading the Markdown


@dataclass
class Block:
    language: str
    words: tuple[str, ...]
    text: str
    line: int

    def option(self, name: str) -> str | None:
        return next((w.split("=", 1)[1] for w in self.words if w.startswith(name + "=")), None)


@dataclass
class Example:
    command: Block
    answer: Block | None
    expect: int | None = None
    varies: frozenset[str] = field(default_factory=frozenset)

    def where(self, document: Path) -> str:
        return f"{document.relative_to(ROOT)}:{self.command.line}"


def fenced_blocks(markdown: str) -> list[Block]:
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        words = tuple(opening["info"].split())
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        blocks.append(Block(words[0] if words else "", words[1:], "\n".join(body) + "\n", i + 1))
        i = j + 1
    return blocks


def examples(markdown: str) -> list[Example]:
    """Each runnable ```sh block with the answer shown right after it (the next fenced block)."""
    blocks = fenced_blocks(markdown)
    found = []
    for index, block in enumerate(blocks):
        if block.language != "sh" or "skip" in block.words:
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        answer = following if following is not None and following.language in ANSWER_LANGUAGES else None
        expect = block.option("expect")
        varies = answer.option("varies") if answer else None
        found.append(
            Example(block, answer, int(expect) if expect else None, frozenset((varies or "").split(",")) - {""})
        )
    return found


# ---- comparing a shown answer with the real one


def value_pattern(shown: str, placeholders: bool = False) -> re.Pattern[str]:
    """A regex for a shown string: ids, timestamps, request ids and keys match any value of their format."""
    formats = list(FORMATS.values())
    parts, last = [], 0
    for match in ANY_FORMAT.finditer(shown):
        token, kind = match.group(0), int(str(match.lastgroup)[1:])
        if kind == len(formats) - 1 and not any(c.isdigit() or c.isupper() for c in token):
            continue  # a 21-letter word, not an id
        parts += [_literal(shown[last : match.start()], placeholders), f"(?:{formats[kind]})"]
        last = match.end()
    parts.append(_literal(shown[last:], placeholders))
    return re.compile("".join(parts), re.DOTALL)


def _literal(text: str, placeholders: bool) -> str:
    if not placeholders:
        return re.escape(text)
    pieces, last = [], 0
    for match in PLACEHOLDER.finditer(text):
        pieces += [re.escape(text[last : match.start()]), ".+?"]
        last = match.end()
    return "".join([*pieces, re.escape(text[last:])])


def differences(shown: Any, real: Any, varies: frozenset[str], where: str = "") -> list[str]:
    """What differs between a shown JSON value and the real one (empty when they agree)."""
    name = where.rsplit(".", 1)[-1].split("[", 1)[0]
    if name in varies:
        if shown is None or _kind(shown) == _kind(real):
            return []
        return [f"{where}: shown a {_kind(shown)}, got {real!r}"]
    if isinstance(shown, dict) and isinstance(real, dict):
        problems = [f"{where}.{k}: shown, but not in the answer" for k in shown if k not in real]
        problems += [f"{where}.{k}: in the answer ({real[k]!r}), but not shown" for k in real if k not in shown]
        for key in shown.keys() & real.keys():
            problems += differences(shown[key], real[key], varies, f"{where}.{key}")
        return problems
    if isinstance(shown, list) and isinstance(real, list):
        if len(shown) != len(real):
            return [f"{where}: shown {len(shown)} items, got {len(real)}: {real!r}"]
        return [
            p
            for i, (s, r) in enumerate(zip(shown, real, strict=True))
            for p in differences(s, r, varies, f"{where}[{i}]")
        ]
    if isinstance(shown, str) and isinstance(real, str):
        return [] if value_pattern(shown).fullmatch(real) else [f"{where}: shown {shown!r}, got {real!r}"]
    if _kind(shown) != _kind(real) or shown != real:
        return [f"{where}: shown {shown!r}, got {real!r}"]
    return []


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "boolean"
    return {int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "other")


@dataclass
class HttpMessage:
    status: int
    headers: list[tuple[str, str]]
    body: str


def parse_http(text: str) -> HttpMessage:
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    # curl -i prints every response it read; the last one is the answer
    while re.match(r"HTTP/\S+ 1\d\d", head) and re.match(r"HTTP/", body):
        head, _, body = body.partition("\n\n")
    status_line, *header_lines = head.strip("\n").split("\n")
    headers = [(n.strip(), v.strip()) for n, _, v in (h.partition(":") for h in header_lines)]
    return HttpMessage(int(status_line.split()[1]), headers, body.strip())


def compare(example: Example, stdout: str) -> tuple[list[str], int | None]:
    """(differences, the real status where the answer shows one)."""
    assert example.answer is not None
    shown_text, varies = example.answer.text, example.varies
    if example.answer.language == "text":
        shown_lines, real_lines = shown_text.strip("\n").splitlines(), stdout.strip("\n").splitlines()
        if len(shown_lines) != len(real_lines):
            return [f"shown {len(shown_lines)} lines, got {len(real_lines)}:\n{stdout}"], None
        return [
            f"shown {s!r}, got {r!r}"
            for s, r in zip(shown_lines, real_lines, strict=True)
            if not value_pattern(s, placeholders=True).fullmatch(r)
        ], None
    if example.answer.language == "json":
        return _compare_bodies(shown_text, stdout, varies), _problem_status(shown_text)
    shown, real = parse_http(shown_text), parse_http(stdout)
    problems = [] if shown.status == real.status else [f"status: shown {shown.status}, got {real.status}"]
    real_headers = {n.lower(): v for n, v in real.headers}
    for name, value in shown.headers:
        if name.lower() not in real_headers:
            problems.append(f"header {name}: shown, not in the answer")
        elif not value_pattern(value).fullmatch(real_headers[name.lower()]):
            problems.append(f"header {name}: shown {value!r}, got {real_headers[name.lower()]!r}")
    if shown.body or real.body:
        problems += _compare_bodies(shown.body, real.body, varies)
    return problems, real.status


def _compare_bodies(shown: str, real: str, varies: frozenset[str]) -> list[str]:
    try:
        shown_value = json.loads(shown)
    except ValueError:
        return [] if value_pattern(shown.strip()).fullmatch(real.strip()) else [f"shown {shown!r}, got {real!r}"]
    try:
        real_value = json.loads(real)
    except ValueError:
        return [f"the answer is not JSON: {real!r}"]
    return differences(shown_value, real_value, varies)


def _problem_status(text: str) -> int | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    status = value.get("status") if isinstance(value, dict) and "type" in value else None
    return status if isinstance(status, int) else None


def shown_status(example: Example) -> int | None:
    if example.answer is None:
        return None
    if example.answer.language == "http":
        return parse_http(example.answer.text).status
    if example.answer.language == "json":
        return _problem_status(example.answer.text)
    return None


# ---- running a document's blocks in one bash session


class Shell:
    """One bash process; each block is sourced into it, so variables carry over from block to block."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],  # noqa: S607
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
        )

    def run(self, script: str) -> tuple[int, str, str]:
        self.count += 1
        path, out, err = (self.folder / f"{self.count}.{suffix}" for suffix in ("sh", "out", "err"))
        path.write_text(script)
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f'source {path} >{out} 2>{err} </dev/null; echo "__docs_test_rc $?"\n')
        self.process.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                if not selector.select(BLOCK_TIMEOUT_SECONDS):
                    raise AssertionError(f"no end after {BLOCK_TIMEOUT_SECONDS} s:\n{script}")
                line = self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"the shell ended while running:\n{script}")
                if line.startswith("__docs_test_rc "):
                    return int(line.split()[1]), out.read_text(), err.read_text()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def reader_environment() -> dict[str, str]:
    """A reader's shell: no AWS endpoint or credentials, none of the test process's settings."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_VERSION")
    return {name: os.environ[name] for name in keep if name in os.environ} | {"TERM": "dumb"}


# `make` in a reader's checkout installs .venv on first use; the test uses the one it runs in, as is.
NO_INSTALL = 'make() { command make -o .venv/.installed -o .venv-ministack/.installed "$@"; }\n'


def run_document(document: Path) -> list[str]:
    markdown = document.read_text()
    found = examples(markdown)
    if not found:
        return []
    setting = SERVER_SETTING.search(markdown)
    failures = []
    with running_server(api_key=setting[1] if setting else None) as (server, _), tempfile.TemporaryDirectory() as tmp:
        shell = Shell(reader_environment(), Path(tmp))
        try:
            shell.run(NO_INSTALL)
            for example in found:
                script = example.command.text.replace(LOCAL_API_URL, server.url).replace(
                    LOCAL_BACKEND_URL, server.backend_url
                )
                rc, stdout, stderr = shell.run(script)
                failures += [f"{example.where(document)}: {p}" for p in check(example, rc, stdout, stderr)]
        finally:
            shell.close()
    return failures


def check(example: Example, rc: int, stdout: str, stderr: str) -> list[str]:
    if rc != 0:
        return [f"exit status {rc}\n--- stdout\n{stdout}--- stderr\n{stderr}"]
    if example.answer is None:
        if example.expect is not None:
            return ["expect= needs a shown answer after the command"]
        return []
    problems, real_status = compare(example, stdout)
    shown = shown_status(example)
    if shown is not None and shown >= 400 and example.expect != shown:
        problems.append(f"the answer shows a {shown}: mark the command ```sh expect={shown}")
    if example.expect is not None and real_status != example.expect:
        problems.append(f"meant to fail with {example.expect}, got {real_status}")
    return ["\n".join([*problems, "--- stdout", stdout])] if problems else []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_runs_and_shows_the_real_answer(document: Path) -> None:
    failures = run_document(document)
    assert not failures, "\n\n".join(failures)


def test_the_readme_and_docs_have_examples() -> None:
    assert examples((ROOT / "README.md").read_text())
    assert sum(len(examples(d.read_text())) for d in DOCUMENTS) >= 10


# ---- the events table


EVENT_ROW = re.compile(r"^\|\s*`(events/[^`]+\.json)`\s*\|(?P<cells>.*)\|\s*$", re.MULTILINE)


@dataclass(frozen=True)
class EventRow:
    path: str
    function: str | None
    status: int | None  # None: a function's refusal (errorMessage), e.g. the authorizer's
    code: str | None


def event_rows() -> list[EventRow]:
    rows = []
    for document in DOCUMENTS:
        for match in EVENT_ROW.finditer(document.read_text()):
            cells = [c.strip() for c in match["cells"].split("|")]
            answer = re.search(r"`([^`]+)`", cells[-1])
            assert answer, f"{match[1]}: the last cell starts with the answer in backticks"
            function = re.search(r"FUNCTION=(\w+)", match[0])
            status, _, code = answer[1].partition(" ")
            rows.append(
                EventRow(
                    match[1],
                    function[1] if function else None,
                    int(status) if status.isdigit() else None,
                    code or (None if status.isdigit() else answer[1]),
                )
            )
    return rows


def test_the_events_table_lists_every_event_once() -> None:
    listed = [row.path for row in event_rows()]
    assert sorted(listed) == sorted(f"events/{p.name}" for p in (ROOT / "events").glob("*.json"))


@pytest.fixture
def fresh_invoke_environment(request: pytest.FixtureRequest) -> Iterator[None]:
    """As a reader's `make invoke` without AWS_ENDPOINT_URL: a fresh backend for each event."""
    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    if TEST_BACKEND == "ministack":
        endpoint = request.getfixturevalue("ministack_endpoint")
        ministack.reset(endpoint)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    yield
    os.environ.clear()
    os.environ.update(saved)
    forget_cached_configuration()


@pytest.mark.usefixtures("fresh_invoke_environment")
@pytest.mark.parametrize("row", event_rows(), ids=lambda row: row.path)
def test_each_event_gives_the_documented_answer(row: EventRow, capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke.main([str(ROOT / row.path), *(["--function", row.function] if row.function else [])]) == 0
    result = json.loads(capsys.readouterr().out)
    if row.status is None:
        assert result.get("errorMessage") == row.code, result
        return
    assert result["statusCode"] == row.status, result
    if row.code:
        assert json.loads(result["body"])["code"] == row.code


# ---- the conventions themselves


def test_the_comparison_reads_formats_and_varying_values() -> None:
    shown = {"id": "V1StGXR8_Z5jdHi6B-myT", "createdAt": "2026-11-26T06:47:19.123Z", "status": "pending"}
    real = {"id": "a" * 20 + "Z", "createdAt": "2030-01-01T00:00:00.000Z", "status": "completed"}
    assert differences(shown, real, frozenset({"status"})) == []
    assert differences(shown, real, frozenset()) == [".status: shown 'pending', got 'completed'"]
    assert differences({"a": 1}, {"a": 1, "b": 2}, frozenset()) == [".b: in the answer (2), but not shown"]
    assert differences({"code": "undeclared_dependency"}, {"code": "undeclared_xependency"}, frozenset())
    assert value_pattern("<the key>", placeholders=True).fullmatch("exk_anything")


def test_a_shown_failure_must_be_marked() -> None:
    markdown = '```sh\ncurl -s x\n```\n\n```json\n{"type": "t", "status": 422, "code": "c"}\n```\n'
    (example,) = examples(markdown)
    problems = check(example, 0, '{"type": "t", "status": 422, "code": "c"}', "")
    assert any("expect=422" in p for p in problems)


# ---- docs/operations.md: an example per operation that runs to completion


RUN_PLAN = re.compile(r"^run_plan '(?P<jobs>\[.*?\])'$", re.MULTILINE | re.DOTALL)


def completed_examples(markdown: str) -> dict[str, list[str]]:
    """Operation -> where an example runs a job of it and its shown answer has that job completed with an
    output (a line `<id> completed <type> <mimeType> ...`) in an execution that completed."""
    found: dict[str, list[str]] = {}
    for example in examples(markdown):
        match = RUN_PLAN.search(example.command.text)
        if match is None or example.answer is None or example.answer.language != "text":
            continue
        lines = example.answer.text.strip().splitlines()
        if not lines or lines[0] != "completed":
            continue
        shown = {line.split()[0]: line.split()[1:] for line in lines[1:]}
        for job in json.loads(match["jobs"]):
            words = shown.get(job["id"], [])
            if len(words) >= 3 and words[0] == "completed":  # status, then an output's type and mime type
                found.setdefault(job["type"], []).append(f"line {example.command.line}")
    return found


def test_every_operation_has_an_example_that_completes_with_outputs() -> None:
    # The docs test runs each example and compares its output with the shown answer: a shown `completed`
    # line per job is an execution that really completed, with outputs of that type, size and length.
    from execution_api.media import GENERATION_OPERATIONS, MEDIA_OPERATIONS

    covered = completed_examples((ROOT / "docs" / "operations.md").read_text())
    missing = sorted((MEDIA_OPERATIONS | GENERATION_OPERATIONS) - covered.keys())
    assert not missing, f"docs/operations.md has no completed example of: {', '.join(missing)}"


def test_an_example_counts_only_when_its_answer_shows_the_job_completed_with_an_output() -> None:
    command = '```sh\nrun_plan \'[{"id": "a", "type": "generate"}, {"id": "b", "type": "merge"}]\'\n```\n\n'
    completed = command + "```text\ncompleted\na completed video video/mp4 852x480 1.0 s\nb completed\n```\n"
    assert completed_examples(completed) == {"generate": ["line 1"]}
    failed = command + "```text\nfailed\na completed video video/mp4 852x480 1.0 s\nb failed oops\n```\n"
    assert completed_examples(failed) == {}
