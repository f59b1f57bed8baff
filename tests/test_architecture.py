"""The house rules of the code: shared modules know no problem family, and the registry is
the only map from a kind to its code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from overparam.problems import registry

SRC = Path(__file__).resolve().parents[1] / "src" / "overparam"

#: Modules every family runs through: none may name a problem kind.
SHARED = [
    "spec/base.py", "spec/setting.py", "spec/messages.py", "spec/loading.py", "spec/data.py",
    "spec/inits.py", "spec/schedules.py", "runner.py", "resources.py", "plots.py", "plot_layout.py",
    "aggregate.py", "fingerprints.py", "folder_rules.py", "spec/imports.py",
    "report/__init__.py", "report/summary.py", "report/scan.py", "report/html.py",
    "schedules/__init__.py", "schedules/base.py", "store.py", "engine.py", "executors.py", "cli.py", "__init__.py",
    "problems/__init__.py", "problems/protocol.py",
]


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose may name a family)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def kinds_named(path: Path, kinds: list[str]) -> list[str]:
    """Code (not docstrings or comments) in ``path`` that names one of ``kinds``: a string
    holding the kind as a word, or an identifier or attribute spelled like it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    word = re.compile(r"\b(" + "|".join(map(re.escape, kinds)) + r")\b")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if word.search(node.value):
                found.append(f"{path.name}:{node.lineno} string {node.value[:40]!r}")
        elif isinstance(node, ast.Name) and node.id in kinds:
            found.append(f"{path.name}:{node.lineno} name {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in kinds:
            found.append(f"{path.name}:{node.lineno} attribute {node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module and any(
                part in kinds for part in node.module.split(".")):
            found.append(f"{path.name}:{node.lineno} import {node.module}")
    return found


@pytest.mark.parametrize("module", SHARED)
def test_shared_modules_name_no_problem_kind(module: str) -> None:
    assert kinds_named(SRC / module, registry.kinds()) == []


def test_the_check_finds_a_kind(tmp_path: Path) -> None:
    """The check above can fail: a module that branches on a kind is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text('"""Mentions shallow in prose only."""\nif kind == "shallow":\n    pass\n'
                   'from overparam.problems.deep_linear import FAMILY\n')
    assert len(kinds_named(bad, registry.kinds())) == 2


#: The rule: no module over ~400 lines (420 allowed).
MAX_LINES = 420


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long
