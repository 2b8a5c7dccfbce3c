"""The ``qstore`` command line."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from qstore.core import cli
from qstore.core.errors import PluginError
from qstore.core.hookspecs import hookimpl
from qstore.core.plugins import PluginRegistry

BUILTIN = "qstore.core.builtin_plugin"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def use_plugins(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Make the CLI see only the given plugins instead of the installed entry points."""

    def install(*plugins: object, **named: object) -> PluginRegistry:
        registry = PluginRegistry(strict=False, disabled=(), trace=False)
        for plugin in plugins:
            registry.add_plugin(plugin)
        for name, plugin in named.items():
            registry.add_plugin(plugin, name=name, distribution=f"dist-{name}", version="0.9")
        monkeypatch.setattr(PluginRegistry, "from_entry_points", classmethod(lambda cls, **kw: registry))
        return registry

    return install


def installed_plugins() -> dict[str, tuple[str, str]]:
    return {
        ep.name: (ep.dist.name, ep.dist.version)
        for ep in importlib.metadata.entry_points(group="qstore")
        if ep.dist is not None
    }


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QSTORE_")}


# -- against the installed plugins: that is the point of these ----------------------------------


def test_plugins_list_json_reports_every_installed_plugin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("QSTORE_DISABLE_PLUGINS", "QSTORE_STRICT_PLUGINS", "QSTORE_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    code, out, _ = run_cli(capsys, "plugins", "list", "--json")
    assert code == 0
    listed = {p["name"]: (p["distribution"], p["version"]) for p in json.loads(out)}
    expected = installed_plugins()
    assert listed == expected
    assert expected["core"] == ("qstore-core", importlib.metadata.version("qstore-core"))
    core = next(p for p in json.loads(out) if p["name"] == "core")
    assert core["status"] == "ok"
    assert core["registers"] == ["backend numpy", "storage memory"]


def test_plugins_list_table_shows_every_installed_plugin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QSTORE_DISABLE_PLUGINS", raising=False)
    code, out, _ = run_cli(capsys, "plugins", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["plugin", "distribution", "version", "registers", "status"]
    for name, (dist, version) in installed_plugins().items():
        row = next(line for line in lines[2:] if line.split()[0] == name)
        assert row.split()[1:3] == [dist, version]


def test_plugins_list_imports_neither_torch_nor_tensorflow_and_is_fast() -> None:
    for heavy in ("torch", "tensorflow"):
        if importlib.util.find_spec(heavy) is None:
            pytest.skip(f"{heavy} is not installed, so there is nothing to avoid importing")
    code = textwrap.dedent(
        """
        import contextlib, io, json, sys, time
        start = time.perf_counter()
        from qstore.core.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            codes = [main(["plugins", "list"]), main(["plugins", "list", "--json"])]
        print(json.dumps({"codes": codes, "seconds": time.perf_counter() - start,
                          "torch": "torch" in sys.modules, "tensorflow": "tensorflow" in sys.modules}))
        """
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=120
    )
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"qstore plugins list: {data['seconds']:.3f} s in-process, {wall:.3f} s with startup")
    assert data["codes"] == [0, 0]
    assert data["torch"] is False
    assert data["tensorflow"] is False
    assert wall < 5.0


def test_console_script_version() -> None:
    script = Path(sys.executable).with_name("qstore")
    if not script.exists():
        pytest.skip("the qstore console script is not installed next to this interpreter")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"qstore {importlib.metadata.version('qstore-core')}"


# -- against chosen plugins ---------------------------------------------------------------------


def test_failed_plugin_is_listed_with_its_error(capsys: pytest.CaptureFixture[str], use_plugins) -> None:  # type: ignore[no-untyped-def]
    use_plugins(core=BUILTIN, broken="qstore_cli_missing_module")
    code, out, _ = run_cli(capsys, "plugins", "list")
    assert code == 0
    broken = next(line for line in out.splitlines() if line.startswith("broken "))
    assert "dist-broken" in broken
    assert "error: ModuleNotFoundError: No module named 'qstore_cli_missing_module'" in broken
    code, out, _ = run_cli(capsys, "plugins", "list", "--json")
    record = next(p for p in json.loads(out) if p["name"] == "broken")
    assert record["status"] == "error"
    assert "qstore_cli_missing_module" in record["error"]


def test_plugins_check_exit_status(capsys: pytest.CaptureFixture[str], use_plugins) -> None:  # type: ignore[no-untyped-def]
    use_plugins(core=BUILTIN)
    code, out, _ = run_cli(capsys, "plugins", "check")
    assert (code, out.strip()) == (0, "1 plugin(s) ok, 0 failed, 0 disabled")
    use_plugins(core=BUILTIN, broken="qstore_cli_missing_module")
    code, out, err = run_cli(capsys, "plugins", "check")
    assert code == 1
    assert "1 failed" in out
    assert err.startswith("broken (dist-broken 0.9): ModuleNotFoundError")


def test_backends_table_and_json(capsys: pytest.CaptureFixture[str], use_plugins) -> None:  # type: ignore[no-untyped-def]
    def register_backends(register):  # type: ignore[no-untyped-def]
        register(
            "needs-lib",
            "qstore_cli_absent_lib:Backend",
            requires=("qstore_cli_absent_lib",),
            max_qubits=20,
            gradient_methods=("parameter-shift",),
            devices=("gpu",),
        )

    extra = types.ModuleType("extra_plugin")
    extra.register_backends = hookimpl(register_backends)  # type: ignore[attr-defined]
    use_plugins(core=BUILTIN, extra=extra)
    code, out, _ = run_cli(capsys, "backends")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert set(rows) == {"needs-lib", "numpy"}
    assert rows["numpy"].split()[1] == "core"
    assert rows["numpy"].rstrip().endswith("ok")
    assert "missing: qstore_cli_absent_lib" in rows["needs-lib"]
    code, out, _ = run_cli(capsys, "backends", "--json")
    data = {row["name"]: row for row in json.loads(out)}
    assert data["needs-lib"]["max_qubits"] == 20
    assert data["needs-lib"]["devices"] == ["gpu"]
    assert data["needs-lib"]["available"] is False
    assert data["numpy"]["available"] is True
    assert data["numpy"]["max_qubits"] >= 10
    assert "adjoint" in data["numpy"]["gradient_methods"]
    assert "qstore_cli_absent_lib" not in sys.modules


def test_error_is_one_line_unless_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(cls, **kwargs):  # type: ignore[no-untyped-def]
        raise PluginError("plugin 'x' is broken; set QSTORE_DISABLE_PLUGINS=x")

    monkeypatch.setattr(PluginRegistry, "from_entry_points", classmethod(explode))
    code, out, err = run_cli(capsys, "plugins", "list")
    assert (code, out) == (1, "")
    assert err == "qstore: error: plugin 'x' is broken; set QSTORE_DISABLE_PLUGINS=x\n"
    code, _, err = run_cli(capsys, "--debug", "plugins", "list")
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().endswith("qstore: error: plugin 'x' is broken; set QSTORE_DISABLE_PLUGINS=x")
    code, _, err = run_cli(capsys, "plugins", "check", "--debug")
    assert code == 1
    assert "Traceback" in err


def test_unexpected_errors_name_their_type(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(cls, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(PluginRegistry, "from_entry_points", classmethod(explode))
    code, _, err = run_cli(capsys, "backends")
    assert (code, err) == (1, "qstore: error: RuntimeError: disk on fire\n")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["plugins"])
    assert info.value.code == 2
    assert "usage: qstore plugins" in capsys.readouterr().err
