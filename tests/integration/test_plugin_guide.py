"""The plugin author guide is a working package: build it from docs/plugins.md and run its tests.

Every code block of the guide that starts with ``# file: <path>`` is written to that path; the
package is installed next to ``qstore-core[testing]`` in a throwaway virtual environment, where the
guide's own conformance tests and CLI commands must pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"```(?:python|toml)\n# file: (?P<path>\S+)\n(?P<body>.*?)```", re.S)


def guide_files() -> dict[str, str]:
    """``{relative path: content}`` of the guide's file blocks."""
    return {m["path"]: m["body"] for m in BLOCK.finditer(GUIDE.read_text())}


def test_the_guide_names_every_file_of_its_layout() -> None:
    files = guide_files()
    assert set(files) == {
        "pyproject.toml",
        "src/toysim/__init__.py",
        "src/toysim/backend.py",
        "src/toysim/plugin.py",
        "tests/test_conformance.py",
    }
    assert "[project.entry-points.qstore]" in files["pyproject.toml"]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.mark.slow
def test_the_guide_package_installs_and_passes_the_conformance_kit(tmp_path: Path) -> None:
    package = tmp_path / "toysim"
    for relative, body in guide_files().items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QSTORE_", "VIRTUAL_ENV"))}
    env["PIP_CONSTRAINT"] = str(ROOT / "constraints.txt")
    _run(
        [python, "-m", "pip", "install", "--quiet", f"{ROOT / 'qstore-core'}[testing]", str(package)],
        tmp_path,
        env,
    )
    tests = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], package, env)
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    listing = _run([str(venv / "bin" / "qstore"), "plugins", "list"], tmp_path, env)
    assert "toysim" in listing.stdout
    _run([str(venv / "bin" / "qstore"), "plugins", "check"], tmp_path, env)
