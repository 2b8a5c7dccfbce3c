"""The ``qstore`` command line: listing, checking, backends, about, usage errors and exit codes."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import attrs
import pytest

from qstore.core import cli
from qstore.core.errors import PluginError
from qstore.core.hookspecs import hookimpl
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.plugins import PluginRegistry, use_registry

BUILTIN = "qstore.core.builtin_plugin"
README = Path(__file__).resolve().parents[2] / "README.md"
HEAVY = ("torch", "tensorflow", "cirq", "qiskit", "qsimcirq", "pennylane")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must be a usage error; return its stderr."""
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    assert info.value.code == cli.USAGE == 2
    return capsys.readouterr().err


class Renamed(NumpyBackend):
    """A backend whose Capabilities name differs from the name it is registered under."""

    @property
    def capabilities(self):  # type: ignore[no-untyped-def]
        return attrs.evolve(super().capabilities, name="something-else")


def backends_plugin(**factories: object) -> types.ModuleType:
    """A plugin module registering one backend per keyword (name with '_' -> '-')."""

    def register_backends(register):  # type: ignore[no-untyped-def]
        for name, factory in factories.items():
            requires = ("qstore_cli_absent_lib",) if name == "needs_lib" else ()
            register(name.replace("_", "-"), factory, requires=requires)

    module = types.ModuleType("cli_test_plugin")
    module.register_backends = hookimpl(register_backends)  # type: ignore[attr-defined]
    return module


@pytest.fixture
def use_plugins():  # type: ignore[no-untyped-def]
    """Make the CLI see only the given plugins (name=plugin) as distribution ``dist-<name>`` 0.9."""
    with_registry = []

    def install(**named: object) -> PluginRegistry:
        registry = PluginRegistry(strict=False, disabled=(), trace=False)
        for name, plugin in named.items():
            registry.add_plugin(plugin, name=name, distribution=f"dist-{name}", version="0.9")
        context = use_registry(registry)
        context.__enter__()
        with_registry.append(context)
        return registry

    yield install
    for context in reversed(with_registry):
        context.__exit__(None, None, None)


def repo_plugins(registry: PluginRegistry) -> dict[str, tuple[str | None, str | None]]:
    return {r.name: (r.distribution, r.version) for r in registry.plugins()}


# -- against this repository's installed plugins --------------------------------------------------


def test_plugins_list_json_reports_every_repository_plugin(capsys, only_repo_plugins) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "plugins", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert {p["name"]: (p["distribution"], p["version"]) for p in listed} == repo_plugins(only_repo_plugins)
    core = next(p for p in listed if p["name"] == "core")
    assert (core["distribution"], core["version"]) == (
        "qstore-core",
        importlib.metadata.version("qstore-core"),
    )
    assert (core["status"], core["registers"]) == ("ok", ["backend numpy", "storage memory"])


def test_plugins_list_table_shows_every_repository_plugin(capsys, only_repo_plugins) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "plugins", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["plugin", "distribution", "version", "registers", "status"]
    for name, (dist, version) in repo_plugins(only_repo_plugins).items():
        row = next(line for line in lines[2:] if line.split()[0] == name)
        assert row.split()[1:3] == [dist, version]


def test_plugins_list_and_about_import_no_heavy_library_and_are_fast() -> None:
    """In a fresh interpreter with every distribution installed: nothing heavy is imported."""
    for heavy in ("torch", "tensorflow"):
        if importlib.util.find_spec(heavy) is None:
            pytest.skip(f"{heavy} is not installed, so there is nothing to avoid importing")
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from qstore.core.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            codes = [main(["plugins", "list"]), main(["plugins", "list", "--json"]), main(["about"])]
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print(json.dumps({{"codes": codes, "heavy": heavy}}))
        """
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data == {"codes": [0, 0, 0], "heavy": []}
    assert wall < 5.0


def test_console_script_version() -> None:
    script = Path(sys.executable).with_name("qstore")
    if not script.exists():
        pytest.skip("the qstore console script is not installed next to this interpreter")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"qstore {importlib.metadata.version('qstore-core')}"


def test_about_reports_versions_devices_threads_and_plugins(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    code, out, _ = run_cli(capsys, "about", "--json")
    assert code == 0
    report = json.loads(out)
    for dist in ("qstore-core", "qstore-torch"):
        assert report["qstore"][dist] == importlib.metadata.version(dist)
    assert report["dependencies"]["numpy"] == importlib.metadata.version("numpy")
    assert report["dependencies"]["pluggy"] == importlib.metadata.version("pluggy")
    assert report["threads"]["OMP_NUM_THREADS"] == "3"
    assert report["devices"]["cpu"]["logical_cores"] >= 1
    assert "core" in {p["name"] for p in report["plugins"]["ok"]}
    code, out, _ = run_cli(capsys, "about")
    assert code == 0
    assert re.search(r"^  qstore-core +" + re.escape(report["qstore"]["qstore-core"]) + "$", out, re.M)
    assert re.search(r"^  OMP_NUM_THREADS +3$", out, re.M)
    assert "plugins: " in out


# -- against chosen plugins -----------------------------------------------------------------------


def test_failed_plugin_is_listed_with_its_error(capsys, use_plugins) -> None:  # type: ignore[no-untyped-def]
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


def test_plugins_check_passes_on_a_consistent_plugin(capsys, use_plugins) -> None:  # type: ignore[no-untyped-def]
    use_plugins(core=BUILTIN, extra=backends_plugin(needs_lib="qstore_cli_absent_lib:B"))
    code, out, err = run_cli(capsys, "plugins", "check")
    assert (code, err) == (0, "")
    assert "ok        backend numpy: batched NumPy statevector reference engine" in out
    assert "skipped   backend needs-lib: needs qstore_cli_absent_lib" in out
    assert "ok        storage memory" in out
    assert out.splitlines()[-1] == "2 plugin(s): 2 ok, 0 failed, 0 disabled; 0 problem(s)"


def test_plugins_check_flags_failures_and_mismatches(capsys, use_plugins) -> None:  # type: ignore[no-untyped-def]
    def needs_an_option(*, api_key: str) -> NumpyBackend:
        return NumpyBackend()

    use_plugins(
        core=BUILTIN,
        broken="qstore_cli_missing_module",
        extra=backends_plugin(renamed=Renamed, gone="qstore_cli_gone:Backend", keyed=needs_an_option),
    )
    code, out, err = run_cli(capsys, "plugins", "check")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == (
        "plugin dist-broken 0.9 (plugin 'broken'): ModuleNotFoundError: "
        "No module named 'qstore_cli_missing_module'"
    )
    assert (
        "problem   backend renamed: registered as 'renamed' but the backend's name is 'something-else'; "
        "Capabilities.name must be the registered name"
    ) in lines
    assert any(
        line.startswith("problem   backend gone: ") and "could not load its factory" in line for line in lines
    )
    assert "unchecked backend keyed: could not be built without options: CapabilityError" in out
    assert out.splitlines()[-1] == "3 plugin(s): 2 ok, 1 failed, 0 disabled; 3 problem(s)"
    code, out, _ = run_cli(capsys, "plugins", "check", "--json")
    assert code == 1
    verdicts = {r["name"]: r["verdict"] for r in json.loads(out)["registrations"]}
    assert verdicts == {
        "numpy": "ok",
        "renamed": "problem",
        "gone": "problem",
        "keyed": "unchecked",
        "memory": "ok",
    }


def test_backends_shows_built_capabilities_and_failures(capsys, use_plugins) -> None:  # type: ignore[no-untyped-def]
    use_plugins(
        core=BUILTIN,
        broken="qstore_cli_missing_module",
        extra=backends_plugin(needs_lib="qstore_cli_absent_lib:B", renamed=Renamed, gone="qstore_cli_gone:B"),
    )
    code, out, err = run_cli(capsys, "backends")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert set(rows) == {"gone", "needs-lib", "numpy", "renamed"}
    caps = NumpyBackend().capabilities
    assert rows["numpy"].split()[1:3] == ["core", str(caps.max_qubits)]
    assert ", ".join(caps.gradient_methods) in rows["numpy"]
    assert rows["numpy"].rstrip().endswith("ok")
    assert rows["needs-lib"].rstrip().endswith("not installed: needs qstore_cli_absent_lib")
    assert "cannot build: PluginError" in rows["gone"]
    assert "registered as 'renamed' but the backend's name is 'something-else'" in rows["renamed"]
    assert err == (
        "plugin failed to load, its backends are missing: dist-broken 0.9 (plugin 'broken'): "
        "ModuleNotFoundError: No module named 'qstore_cli_missing_module'\n"
    )
    code, out, _ = run_cli(capsys, "backends", "--json")
    data = json.loads(out)
    by_name = {row["name"]: row for row in data["backends"]}
    assert by_name["numpy"]["capabilities"]["max_qubits"] == caps.max_qubits
    assert by_name["numpy"]["capabilities"]["gradient_methods"] == list(caps.gradient_methods)
    assert by_name["needs-lib"]["capabilities"] is None
    assert len(data["failed_plugins"]) == 1
    assert "qstore_cli_absent_lib" not in sys.modules


def test_strict_mode_error_names_plugin_and_distribution(tmp_path: Path, make_distribution) -> None:  # type: ignore[no-untyped-def]
    make_distribution(
        tmp_path,
        "qstore-brittle",
        "0.3",
        {"brittle": "brittle_plugin"},
        {"brittle_plugin": "import nope_xyz\n"},
    )
    code = "import sys; from qstore.core.cli import main; sys.exit(main(['backends']))"
    env = {"PYTHONPATH": str(tmp_path), "QSTORE_STRICT_PLUGINS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "qstore: error: qstore qstore-brittle 0.3 (plugin 'brittle') failed to load: "
        "ModuleNotFoundError: No module named 'nope_xyz' (unset QSTORE_STRICT_PLUGINS to skip it)"
    )


# -- errors, usage and exit codes -------------------------------------------------------------------


def test_error_is_one_line_unless_debug(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def explode() -> PluginRegistry:
        raise PluginError("plugin 'x' is broken; set QSTORE_DISABLE_PLUGINS=x")

    monkeypatch.setattr(cli, "_registry", explode)
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


def test_unexpected_errors_name_their_type(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def explode() -> PluginRegistry:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "_registry", explode)
    code, _, err = run_cli(capsys, "backends")
    assert (code, err) == (1, "qstore: error: RuntimeError: disk on fire\n")


def test_bare_command_and_bare_group_print_help_and_succeed(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(capsys)
    assert (code, err) == (0, "")
    assert out.startswith("usage: qstore ")
    assert all(command in out for command in ("plugins", "backends", "about"))
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    assert out.startswith("usage: qstore plugins ")
    assert "list" in out and "check" in out


@pytest.mark.parametrize(
    ("argv", "usage", "hint"),
    [
        (["backend"], "usage: qstore [-h]", "did you mean 'backends'?"),
        (["abuot"], "usage: qstore [-h]", "did you mean 'about'?"),
        (["plugins", "lst"], "usage: qstore plugins [-h]", "did you mean 'list'?"),
        (["plugins", "chek"], "usage: qstore plugins [-h]", "did you mean 'check'?"),
    ],
)
def test_misspelt_command_suggests_the_closest(capsys, argv: list[str], usage: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    err = usage_error(capsys, *argv)
    assert err.startswith(usage)
    assert err.rstrip().endswith(hint)


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["plugins", "list", "--jsn"], "usage: qstore plugins list [-h] [--debug] [--json]"),
        (["backends", "--bogus"], "usage: qstore backends [-h] [--debug] [--json]"),
        (["about", "extra"], "usage: qstore about [-h] [--debug] [--json]"),
    ],
)
def test_bad_flag_prints_the_subcommand_usage(capsys, argv: list[str], usage: str) -> None:  # type: ignore[no-untyped-def]
    err = usage_error(capsys, *argv)
    assert err.splitlines()[0] == usage
    assert "unrecognized arguments: " + argv[-1] in err


def test_readme_exit_codes_match_the_code(capsys, use_plugins) -> None:  # type: ignore[no-untyped-def]
    """Each exit status the README documents is the one the CLI returns in that situation."""
    section = README.read_text().split("## Command line", 1)[1]
    documented = {int(code): text for code, text in re.findall(r"^\| `(\d)` \| (.+?) \|$", section, re.M)}
    assert sorted(documented) == [cli.OK, cli.FAILED, cli.USAGE] == [0, 1, 2]
    assert "success" in documented[0] and "plugins check" in documented[1] and "usage" in documented[2]
    use_plugins(core=BUILTIN)
    assert run_cli(capsys, "plugins", "check")[0] == 0
    assert run_cli(capsys)[0] == 0
    use_plugins(core=BUILTIN, broken="qstore_cli_missing_module")
    assert run_cli(capsys, "plugins", "check")[0] == 1
    assert usage_error(capsys, "plugins", "list", "--jsn")
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
