"""Every subprocess the tests and their helpers start is bounded in time.

A test that waits on a child without a timeout turns a hung kubectl, playbook or Job into a CI run
that hits its limit with no traceback. pytest-timeout (pytest.ini) bounds each test as a whole; this
check keeps each wait bounded too, so the failure names the command that hung.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# The test suite and the harness it drives (the sample stack's script, the image builder).
SOURCES = sorted(p for p in (REPO / "tests").rglob("*.py") if "output" not in p.parts)
BLOCKING_FUNCTIONS = {"run", "check_output", "check_call", "call"}
BLOCKING_METHODS = {"wait", "communicate"}


def unbounded_calls(tree: ast.AST) -> list[int]:
    """Line numbers of subprocess.run/check_output/check_call/call and .wait()/.communicate() without timeout."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name, owner = node.func.attr, node.func.value
        is_subprocess_call = name in BLOCKING_FUNCTIONS and isinstance(owner, ast.Name) and owner.id == "subprocess"
        if not (is_subprocess_call or name in BLOCKING_METHODS):
            continue
        # A ** mapping may carry timeout; a positional first argument of wait() is its timeout.
        keywords = {k.arg for k in node.keywords}
        if "timeout" in keywords or None in keywords or (name == "wait" and node.args):
            continue
        lines.append(node.lineno)
    return lines


def test_the_checker_finds_an_unbounded_call_and_accepts_a_bounded_one():
    tree = ast.parse("import subprocess\nsubprocess.run(['x'])\nsubprocess.run(['x'], timeout=5)\n"
                     "p.wait()\np.wait(5)\np.communicate(timeout=3)\nq.communicate()\n")
    assert unbounded_calls(tree) == [2, 4, 7]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_wait_has_a_timeout(path):
    lines = unbounded_calls(ast.parse(path.read_text(), filename=str(path)))
    assert not lines, f"{path.relative_to(REPO)}: calls without timeout at lines {lines}"
