"""Every error code the API can answer (the layer's and template.yaml's Gateway Responses) is in docs/api.md."""

from __future__ import annotations

import ast
import itertools
import re

from local.template import ROOT

CODE = re.compile(r"[a-z]+(?:_[a-z]+)*")
PAIR_CODE = re.compile(r"[a-z]+(?:_[a-z]+)+")  # in a bare (code, message) pair a code has an underscore


def _string(node: ast.AST, pattern: re.Pattern[str] = CODE) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.fullmatch(node.value):
        return node.value
    return None


def codes_in_layer() -> set[str]:
    """Codes in the places the layer writes them: Violation(pointer, code, ...), MalformedRequest(code, ...),
    (code, message) pairs, (HTTPStatus.X, code, ...) / problem(HTTPStatus.X, code, ...), and the values of a
    mapping named *CODES."""
    codes: set[str] = set()
    layer = ROOT / "layers" / "shared" / "execution_api"
    # The media package runs in workers only: its (module, function) pairs are no answer of the API.
    for path in (p for p in layer.rglob("*.py") if not p.is_relative_to(layer / "media")):
        for node in ast.walk(ast.parse(path.read_text())):
            candidates: list[ast.AST] = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "Violation" and len(node.args) > 1:
                    candidates.append(node.args[1])
                if node.func.id == "MalformedRequest" and node.args:
                    candidates.append(node.args[0])
            if isinstance(node, ast.Call | ast.Tuple):
                items = node.args if isinstance(node, ast.Call) else node.elts
                for first, second in itertools.pairwise(items):
                    if isinstance(first, ast.Attribute) and ast.unparse(first).startswith("HTTPStatus."):
                        candidates.append(second)
            codes.update(code for candidate in candidates if (code := _string(candidate)))
            if isinstance(node, ast.Tuple) and len(node.elts) == 2 and (code := _string(node.elts[0], PAIR_CODE)):
                codes.add(code)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and _names_codes(node.targets):
                codes.update(code for value in node.value.values if value and (code := _string(value, PAIR_CODE)))
    return codes


def _names_codes(targets: list[ast.expr]) -> bool:
    """A mapping to codes, by its name (`webhooks.urls._CODES`: core.destinations' kinds to the API's codes)."""
    return any(isinstance(target, ast.Name) and target.id.endswith("CODES") for target in targets)


def codes_in_template() -> set[str]:
    return set(re.findall(r'"code": "([a-z_]+)"', (ROOT / "template.yaml").read_text()))


def test_the_scan_finds_the_codes_it_should() -> None:
    found = codes_in_layer()
    assert {"dependency_cycle", "webhook_host_not_allowed", "invalid_job_id", "malformed_json"} <= found
    assert {"execution_not_found", "idempotency_key_in_flight", "validation_failed", "unauthorized"} <= found


def test_every_code_is_documented() -> None:
    documented = set(re.findall(r"`([a-z]+(?:_[a-z]+)*)`", (ROOT / "docs" / "api.md").read_text()))
    missing = (codes_in_layer() | codes_in_template()) - documented
    assert not missing, f"add these codes to docs/api.md: {sorted(missing)}"
