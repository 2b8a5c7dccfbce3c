"""Each distribution's wheel declares exactly the distributions its code imports.

The wheel is built the way pip builds it (``pip wheel --no-deps``, build isolation, the tested
versions from constraints.txt); its ``Requires-Dist`` is compared with the imports that `ast`
finds in the Python files inside it. Imports inside functions count: a lazy import is still a
runtime dependency. An import may also be declared through an extra (``qstore-core[cirq]``).
"""

from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = (
    "qstore-core",
    "qstore-torch",
    "qstore-tf",
    "qstore-backend-gpu",
    "qstore-backend-ionq",
    "qstore-storage",
    "qstore-service",
)
# The namespace package `qstore` is shared; its subpackages belong to one distribution each.
QSTORE_PACKAGES = {
    "qstore.core": "qstore-core",
    "qstore.torch": "qstore-torch",
    "qstore.tf": "qstore-tf",
    "qstore.backends.gpu": "qstore-backend-gpu",
    "qstore.backends.ionq": "qstore-backend-ionq",
    "qstore.storage": "qstore-storage",
    "qstore.service": "qstore-service",
}
# Required without an import statement: loaded by name through another library's plugin system.
LOADED_BY_NAME = {
    "qstore-backend-gpu": {"pennylane-lightning"},  # qml.device("lightning.qubit") finds it by entry point
    # get_storage("parquet-kernels") finds the store by entry point; uvicorn loads websockets by name.
    "qstore-service": {"qstore-storage", "websockets"},
}


def build_wheel(dist: str, out: Path) -> Path:
    env = {**os.environ, "PIP_CONSTRAINT": str(REPO / "constraints.txt")}
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO / dist)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob(f"{dist.replace('-', '_')}-*.whl")
    return wheel


def imported_modules(wheel: Path) -> set[str]:
    """Every absolute module name imported anywhere in the wheel's Python files."""
    names: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if not member.endswith(".py"):
                continue
            for node in ast.walk(ast.parse(archive.read(member), member)):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module)
    return names


def distribution_of(module: str) -> str | None:
    """The distribution that provides ``module``, or None for the standard library."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return None
    if top == "qstore":
        owner = next((d for pkg, d in QSTORE_PACKAGES.items() if f"{module}.".startswith(f"{pkg}.")), None)
        assert owner is not None, f"{module} is in no qstore distribution"
        return owner
    providers = importlib.metadata.packages_distributions().get(top)
    assert providers, f"no installed distribution provides the module {top!r}"
    return str(canonicalize_name(providers[0]))


def requirements(wheel: Path) -> tuple[set[str], set[str]]:
    """``(required, for extras only)`` distribution names from the wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next(m for m in archive.namelist() if m.endswith(".dist-info/METADATA"))
        message = email.parser.Parser().parsestr(archive.read(meta).decode())
    required, extras = set(), set()
    for line in message.get_all("Requires-Dist") or []:
        req = Requirement(line)
        (extras if req.marker and "extra" in str(req.marker) else required).add(
            str(canonicalize_name(req.name))
        )
    return required, extras


@pytest.mark.slow
@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_wheel_declares_exactly_what_it_imports(dist: str, tmp_path: Path) -> None:
    wheel = build_wheel(dist, tmp_path)
    imported = {d for m in imported_modules(wheel) if (d := distribution_of(m)) not in (None, dist)}
    required, extras = requirements(wheel)
    undeclared = imported - required - extras
    unused = required - imported - LOADED_BY_NAME.get(dist, set())
    assert not undeclared, f"{dist} imports {sorted(undeclared)} without declaring them"
    assert not unused, f"{dist} requires {sorted(unused)} but never imports them"
