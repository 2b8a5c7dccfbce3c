"""Install only qstore-core into a fresh venv: the CLI and a circuit on `numpy` must work there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

BELL = textwrap.dedent(
    """
    import importlib.util, json
    from qstore.core import Circuit, get_backend
    result = get_backend("numpy").run(Circuit(2).h(0).cnot(0, 1), observables=["Z0 Z1"])
    print(json.dumps({
        "shape": list(result.expectations.shape),
        "value": float(result.expectations[0, 0]),
        "absent": [m for m in ("torch", "tensorflow") if importlib.util.find_spec(m) is None],
    }))
    """
)


def run(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_core_alone_lists_plugins_and_runs_a_bell_circuit(tmp_path: Path) -> None:
    source = tmp_path / "qstore-core"
    shutil.copytree(REPO / "qstore-core", source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QSTORE_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    run(bin_dir / "python", "-m", "pip", "install", "--quiet", str(source), env=env)

    listing = run(bin_dir / "qstore", "plugins", "list", "--json", env=env)
    plugins = json.loads(listing.stdout)
    assert [(p["name"], p["distribution"], p["status"]) for p in plugins] == [("core", "qstore-core", "ok")]
    assert plugins[0]["registers"] == ["backend numpy", "storage memory"]
    table = run(bin_dir / "qstore", "plugins", "list", env=env).stdout
    assert "qstore-core" in table
    run(bin_dir / "qstore", "plugins", "check", env=env)

    bell = json.loads(run(bin_dir / "python", "-c", BELL, env=env).stdout.strip().splitlines()[-1])
    assert bell["shape"] == [1, 1]
    assert bell["value"] == pytest.approx(1.0)
    assert bell["absent"] == ["torch", "tensorflow"]
    installed = run(bin_dir / "python", "-m", "pip", "list", "--format=json", env=env).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert "qstore-core" in names
    assert not names & {"torch", "tensorflow", "qstore-torch", "qstore-tf"}
