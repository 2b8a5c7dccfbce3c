"""The root conftest keeps installed third-party plugins out of every test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

INTRUDER = """
    from qstore.core.hookspecs import hookimpl

    @hookimpl
    def register_backends(register):
        register("intruder", "qstore.core.numpy_backend:NumpyBackend")
"""

PROBE = """
    from qstore.core import list_backends, list_plugins

    def test_sees_only_the_repository_plugins():
        assert "intruder" not in list_backends()
        assert "numpy" in list_backends()
        assert "qstore-intruder" not in {p.distribution for p in list_plugins()}
"""


def test_an_installed_third_party_plugin_is_invisible_to_tests(tmp_path: Path, make_distribution) -> None:  # type: ignore[no-untyped-def]
    site, probe = tmp_path / "site", tmp_path / "probe"
    site.mkdir()
    probe.mkdir()
    make_distribution(
        site, "qstore-intruder", "1.0", {"intruder": "intruder_plugin"}, {"intruder_plugin": INTRUDER}
    )
    (probe / "test_probe.py").write_text(textwrap.dedent(PROBE))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(TESTS)])}

    visible = subprocess.run(
        [sys.executable, "-c", "from qstore.core import list_backends; print('intruder' in list_backends())"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert visible.stdout.strip() == "True", visible.stderr  # without the fixture it is installed

    isolated = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", str(probe)],
        capture_output=True,
        text=True,
        env=env,
        cwd=probe,
        timeout=300,
    )
    assert isolated.returncode == 0, isolated.stdout + isolated.stderr
    assert "1 passed" in isolated.stdout
