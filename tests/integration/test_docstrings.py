"""Every public module, every name in a module's ``__all__``, and every public method or property
of those classes has a docstring (inherited ones count): the API reference is built from them."""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def public_modules() -> list[str]:
    """Dotted names of every module under ``qstore-*/src`` with no ``_``-prefixed part."""
    names = []
    for src in sorted(ROOT.glob("qstore-*/src")):
        for path in sorted(src.rglob("*.py")):
            parts = path.relative_to(src).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            if not any(p.startswith("_") for p in parts):
                names.append(".".join(parts))
    return names


def undocumented(module_name: str) -> list[str]:
    """The public objects of ``module_name`` that have no docstring."""
    module = importlib.import_module(module_name)
    missing = [] if (module.__doc__ or "").strip() else [module_name]
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj) and obj.__module__ == module_name:
            for attr, value in vars(obj).items():
                target = getattr(value, "fget", None) or getattr(value, "func", None) or value
                target = getattr(target, "__func__", target)
                if attr.startswith("_") or not inspect.isfunction(target):
                    continue
                if not (inspect.getdoc(getattr(obj, attr, None)) or target.__doc__ or "").strip():
                    missing.append(f"{module_name}.{name}.{attr}")
    return missing


def test_undocumented_finds_a_missing_docstring() -> None:
    assert undocumented("qstore.core.errors") == []
    module = "tests_docstrings_probe"
    probe = types.ModuleType(module, "A probe module.")
    exec(
        "class Thing:\n    'Documented.'\n    def bare(self): return 1\ndef naked(): return 2\n",
        probe.__dict__,
    )
    probe.__all__ = ["Thing", "naked"]
    probe.Thing.__module__ = module
    sys.modules[module] = probe
    try:
        assert undocumented(module) == [f"{module}.Thing.bare", f"{module}.naked"]
    finally:
        del sys.modules[module]


@pytest.mark.slow
def test_public_api_has_docstrings() -> None:
    missing = [name for module in public_modules() for name in undocumented(module)]
    assert missing == [], "add concise docstrings (what and why) to: " + ", ".join(missing)
