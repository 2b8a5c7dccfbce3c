"""Every public error is a `QstoreError`: nothing raises a bare built-in exception at a caller."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from qstore.core import errors
from qstore.core.kernels import KernelCancelledError

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(ROOT.glob("qstore-*/src/qstore/**/*.py"))
BUILTINS = {
    "ValueError",
    "TypeError",
    "RuntimeError",
    "KeyError",
    "IndexError",
}  # AttributeError: module __getattr__
# Raised for Python protocols, never at a caller: pickling refusal and internal parse signals.
ALLOWED = {("secrets.py", "TypeError"), ("expressions.py", "TypeError"), ("observables.py", "TypeError")}


def test_every_error_class_is_a_qstore_error() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) > 15
    assert all(issubclass(c, errors.QstoreError) for c in classes)
    assert KernelCancelledError is errors.KernelCancelledError


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sources_raise_no_bare_builtin_exceptions(path: Path) -> None:
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = target.id if isinstance(target, ast.Name) else None
            if name in BUILTINS and (path.name, name) not in ALLOWED:
                bad.append(f"line {node.lineno}: raise {name}")
    assert not bad, f"{path.name} raises built-in exceptions: {bad}"
