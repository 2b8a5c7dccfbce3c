"""The plugin registry: builtin registration, lazy factories, failures, clashes and switches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
import uuid
import warnings
from pathlib import Path

import attrs
import pytest

from qstore.core import plugins
from qstore.core.backend import Backend
from qstore.core.circuit import Circuit
from qstore.core.errors import (
    BackendNotFoundError,
    CapabilityError,
    FrameworkNotFoundError,
    PluginError,
    PluginNotFoundError,
    StorageNotFoundError,
)
from qstore.core.hookspecs import hookimpl
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.plugins import PluginRegistry, isolated_registry
from qstore.core.storage import MemoryMetricsSink
from qstore.core.testing import BackendConformance

BUILTIN = "qstore.core.builtin_plugin"


@pytest.fixture
def registry() -> PluginRegistry:
    """An empty registry that ignores the QSTORE_*_PLUGINS switches of the caller's shell."""
    return PluginRegistry(strict=False, disabled=(), trace=False)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def plugin_object(kind: str, *names: str, factory: object = NumpyBackend, **info: object) -> object:
    """A plugin module object with one hook registering ``names`` of ``kind``."""

    def hook(register):  # type: ignore[no-untyped-def]
        for name in names:
            register(name, factory, **info)

    return plugin_module(**{plugins._HOOKS[kind]: hook})  # type: ignore[index]


def plugin_module(**hooks: object) -> types.ModuleType:
    """A module object holding ``hooks`` as hook implementations."""
    module = types.ModuleType(unique("plugin_module"))
    for name, hook in hooks.items():
        setattr(module, name, hookimpl(hook))
    return module


THIRD_PARTY_BACKEND = """
    import attrs
    from qstore.core.numpy_backend import NumpyBackend

    class TinySim(NumpyBackend):
        @property
        def capabilities(self):
            return attrs.evolve(super().capabilities, name="{name}", max_qubits=10)
"""

THIRD_PARTY_PLUGIN = """
    from qstore.core.hookspecs import hookimpl

    @hookimpl
    def register_backends(register):
        register("{name}", "{module}:TinySim", description="a third-party simulator")
"""


# -- the builtin plugin -------------------------------------------------------------------------


def test_builtin_plugin_registers_numpy_and_memory(registry: PluginRegistry) -> None:
    record = registry.add_plugin(BUILTIN, name="core")
    assert record.status == "ok"
    assert record.registers == ("backend numpy", "storage memory")
    assert registry.names("backend") == ["numpy"]
    assert registry.names("storage") == ["memory"]
    assert registry.names("framework") == []
    assert isinstance(registry.get_backend("numpy"), NumpyBackend)
    assert isinstance(registry.get_storage("memory", kind="metrics"), MemoryMetricsSink)


def test_builtin_registration_declares_only_requires_and_description(registry: PluginRegistry) -> None:
    registry.add_plugin(BUILTIN, name="core")
    entry = registry.entry("backend", "numpy")
    assert (entry.requires, entry.kinds) == ((), ())
    assert entry.description
    assert registry.get_backend("numpy").name == entry.name
    assert registry.entry("storage", "memory").kinds == (
        "checkpoints",
        "metrics",
        "vectors",
        "cache",
        "kernels",
    )


def test_options_reach_the_factory(registry: PluginRegistry) -> None:
    registry.add_plugin(BUILTIN, name="core")
    backend = registry.get_backend("numpy", precision="single")
    assert "complex64" in backend.capabilities.description


class Renamed(NumpyBackend):
    @property
    def capabilities(self):  # type: ignore[no-untyped-def]
        return attrs.evolve(super().capabilities, name="something-else")


def test_conformance_kit_flags_a_name_that_differs_from_the_registration() -> None:
    class Kit(BackendConformance):
        registered_name = "numpy"

    with pytest.raises(
        AssertionError, match="registered as 'numpy' but the backend's name is 'something-else'"
    ):
        Kit().test_registered_under_its_name(Renamed())
    with pytest.raises(AssertionError, match="no installed plugin registers backend 'something-else'"):
        BackendConformance().test_registered_under_its_name(Renamed())
    BackendConformance().test_registered_under_its_name(NumpyBackend())


def test_module_level_api_uses_the_installed_default(registry: PluginRegistry) -> None:
    registry.add_plugin(BUILTIN, name="core")
    with plugins.use_registry(registry):
        assert plugins.list_backends() == ["numpy"]
        assert plugins.list_storage() == ["memory"]
        assert plugins.list_frameworks() == []
        assert [p.name for p in plugins.list_plugins()] == ["core"]
        result = plugins.get_backend("numpy").run(Circuit(2).h(0).cnot(0, 1), observables="Z0 Z1")
        assert result.expectations.tolist() == [[pytest.approx(1.0)]]
    assert plugins.default_registry() is not registry


def test_isolated_registry_holds_only_the_given_plugins() -> None:
    extra = plugin_object("framework", "fake-fw", factory=types.SimpleNamespace)
    with isolated_registry(BUILTIN, extra, strict=False, disabled=()) as reg:
        assert plugins.list_frameworks() == ["fake-fw"]
        assert plugins.get_framework("fake-fw", QuantumLayer=dict).QuantumLayer is dict
        assert plugins.default_registry() is reg


# -- cheap registration -------------------------------------------------------------------------


def test_factory_module_is_imported_only_on_creation(
    registry: PluginRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = unique("lazy_backend")
    (tmp_path / f"{module}.py").write_text("from qstore.core.numpy_backend import NumpyBackend as Lazy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.add_plugin(plugin_object("backend", "lazy", factory=f"{module}:Lazy"))
    assert module not in sys.modules
    assert isinstance(registry.get_backend("lazy"), NumpyBackend)
    assert module in sys.modules


def test_missing_requirement_is_reported_without_importing(registry: PluginRegistry) -> None:
    registry.add_plugin(
        plugin_object("backend", "needy", factory="nowhere_xyz:Backend", requires=("nowhere_xyz",))
    )
    assert registry.entry("backend", "needy").missing_requires() == ("nowhere_xyz",)
    with pytest.raises(PluginError, match="needs nowhere_xyz"):
        registry.get_backend("needy")


def test_unimportable_factory_is_a_plugin_error(registry: PluginRegistry) -> None:
    registry.add_plugin(plugin_object("backend", "gone", factory="nowhere_abc:Backend"))
    with pytest.raises(PluginError, match="could not load its factory 'nowhere_abc:Backend'"):
        registry.get_backend("gone")


def test_factory_must_return_a_backend(registry: PluginRegistry) -> None:
    registry.add_plugin(plugin_object("backend", "fake", factory=dict))
    with pytest.raises(PluginError, match=r"returned dict, not a qstore\.core\.backend\.Backend"):
        registry.get_backend("fake")


def test_framework_factory_must_return_an_adapter(registry: PluginRegistry) -> None:
    registry.add_plugin(plugin_object("framework", "fake", factory=dict))
    with pytest.raises(PluginError, match=r"returned dict, not a qstore\.core\.hookspecs\.FrameworkAdapter"):
        registry.get_framework("fake")


@pytest.mark.parametrize(
    ("kind", "name", "options", "message"),
    [
        ("backend", "numpy", {"precison": "single"}, "argument 'precison'; did you mean 'precision'?"),
        ("backend", "numpy", {"colour": 1}, "unexpected keyword argument 'colour'. Valid options: "),
        ("storage", "memory", {}, "missing a required argument: 'kind'"),
    ],
)
def test_bad_options_are_a_capability_error_naming_the_valid_ones(
    registry: PluginRegistry, kind: str, name: str, options: dict, message: str
) -> None:
    registry.add_plugin(BUILTIN, name="core")
    with pytest.raises(CapabilityError) as info:
        registry.create(kind, name, **options)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{kind} {name!r}: ")
    assert message in str(info.value)


def test_duplicate_plugin_names_are_refused_by_pluggy(registry: PluginRegistry) -> None:
    registry.add_plugin(plugin_object("backend", "one"), name="same", distribution="dist-a")
    second = registry.add_plugin(plugin_object("backend", "two"), name="same", distribution="dist-b")
    assert second.status == "error"
    assert "Plugin name already registered: same" in second.error
    assert registry.names("backend") == ["one"]


def test_storage_factory_must_return_a_store(registry: PluginRegistry) -> None:
    registry.add_plugin(plugin_object("storage", "fake", factory=dict))
    with pytest.raises(PluginError, match="returned dict, not a store of one of the storage protocols"):
        registry.get_storage("fake")


# -- failures are recorded, never fatal ---------------------------------------------------------


def test_plugin_that_fails_to_import_is_listed_and_the_rest_work(
    registry: PluginRegistry,
) -> None:
    broken = registry.add_plugin("qstore_no_such_plugin_module", distribution="broken", version="9")
    registry.add_plugin(BUILTIN, name="core")
    assert broken.status == "error"
    assert "ModuleNotFoundError" in broken.error
    assert "qstore_no_such_plugin_module" in broken.error
    assert {p.name: p.status for p in registry.plugins()} == {
        "core": "ok",
        "qstore_no_such_plugin_module": "error",
    }
    assert isinstance(registry.get_backend("numpy"), Backend)


def test_hook_that_raises_is_recorded_and_registers_nothing(registry: PluginRegistry) -> None:
    def register_backends(register):  # type: ignore[no-untyped-def]
        register("half-done", NumpyBackend)
        raise RuntimeError("plugin bug")

    record = registry.add_plugin(plugin_module(register_backends=register_backends), name="b")
    assert record.status == "error"
    assert record.error == "RuntimeError: plugin bug"
    assert record.registers == ()
    assert registry.names("backend") == []


@pytest.mark.parametrize(
    ("name", "factory", "info", "message"),
    [
        ("Bad Name", NumpyBackend, {}, "'Bad Name': a name takes lower-case letters"),
        ("ok", "no-colon", {}, "factory 'no-colon' is neither a callable nor 'module:attr'"),
        ("ok", 42, {}, "factory 42 is neither a callable nor 'module:attr'"),
        ("ok", NumpyBackend, {"require": ("torch",)}, "unknown keywords ['require']"),
        ("ok", NumpyBackend, {"max_qubits": 30}, "come from the backend's Capabilities"),
        ("ok", NumpyBackend, {"kinds": ("metrics",)}, "unknown keywords ['kinds']"),
        ("ok", NumpyBackend, {"description": 3}, "description 3 is not a string"),
        (
            "ok",
            NumpyBackend,
            {"requires": "torch"},
            "requires 'torch' is not a tuple of top-level module names",
        ),
        ("ok", NumpyBackend, {"requires": ("a.b",)}, "is not a tuple of top-level module names"),
    ],
)
def test_invalid_registration_fails_that_plugin(
    registry: PluginRegistry, name: str, factory: object, info: dict, message: str
) -> None:
    record = registry.add_plugin(plugin_object("backend", name, factory=factory, **info), name="p")
    assert record.status == "error"
    assert message in record.error


def test_a_name_registered_twice_by_one_plugin_fails_that_plugin(registry: PluginRegistry) -> None:
    record = registry.add_plugin(plugin_object("backend", "twice", "twice"), name="p")
    assert record.status == "error"
    assert record.error == "PluginError: backend 'twice' is registered twice by the same plugin"
    assert registry.names("backend") == []


def test_misspelled_hook_is_an_error(registry: PluginRegistry) -> None:
    def register_backend(register):  # type: ignore[no-untyped-def]
        register("x", NumpyBackend)

    record = registry.add_plugin(plugin_module(register_backend=register_backend), name="t")
    assert record.status == "error"
    assert "register_backend" in record.error


def test_name_clash_names_both_distributions(registry: PluginRegistry) -> None:
    registry.add_plugin(
        plugin_object("backend", "dup", "only-a"), name="a", distribution="qstore-a", version="1.0"
    )
    registry.add_plugin(plugin_object("backend", "dup"), name="b", distribution="qstore-b", version="2.0")
    with pytest.raises(PluginError) as info:
        registry.get_backend("dup")
    message = str(info.value)
    assert "qstore-a 1.0 (plugin 'a')" in message
    assert "qstore-b 2.0 (plugin 'b')" in message
    assert registry.names("backend") == ["only-a"]
    records = {r.name: r for r in registry.plugins()}
    assert records["a"].status == records["b"].status == "error"
    assert records["a"].error == records["b"].error == message
    assert isinstance(registry.get_backend("only-a"), NumpyBackend)


def test_same_name_of_different_kinds_is_no_clash(registry: PluginRegistry) -> None:
    registry.add_plugin(plugin_object("backend", "torch"), name="a")
    registry.add_plugin(plugin_object("framework", "torch", factory=dict), name="b")
    assert registry.names("backend") == registry.names("framework") == ["torch"]


# -- switches -----------------------------------------------------------------------------------


def test_strict_mode_raises_naming_plugin_and_distribution() -> None:
    registry = PluginRegistry(strict=True, disabled=(), trace=False)
    with pytest.raises(PluginError) as info:
        registry.add_plugin("qstore_no_such_plugin_module", name="nsp", distribution="broken", version="9")
    assert str(info.value).startswith("qstore broken 9 (plugin 'nsp') failed to load: ModuleNotFoundError")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_strict_mode_raises_on_clash() -> None:
    registry = PluginRegistry(strict=True, disabled=(), trace=False)
    registry.add_plugin(plugin_object("backend", "dup"), name="a", distribution="qstore-a")
    with pytest.raises(PluginError, match="qstore-a"):
        registry.add_plugin(plugin_object("backend", "dup"), name="b", distribution="qstore-b")


def test_environment_switches_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTORE_STRICT_PLUGINS", "1")
    monkeypatch.setenv("QSTORE_DISABLE_PLUGINS", " torch, qstore-tf ,")
    registry = PluginRegistry(trace=False)
    assert registry.strict is True
    assert registry.disabled == {"torch", "qstore-tf"}


def test_disabled_plugin_is_not_imported() -> None:
    registry = PluginRegistry(strict=False, disabled={"blocked", "qstore-other"}, trace=False)
    by_name = registry.add_plugin("qstore_never_imported_xyz", name="blocked")
    by_dist = registry.add_plugin(BUILTIN, name="core", distribution="qstore-other")
    assert by_name.status == by_dist.status == "disabled"
    assert "qstore_never_imported_xyz" not in sys.modules
    with pytest.raises(BackendNotFoundError):
        registry.get_backend("numpy")


def test_trace_prints_hook_calls(capsys: pytest.CaptureFixture[str]) -> None:
    registry = PluginRegistry(strict=False, disabled=(), trace=True)
    registry.add_plugin(BUILTIN, name="core")
    err = capsys.readouterr().err
    assert "register_backends" in err
    assert "register backend numpy" in err


# -- unknown names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "hint"),
    [
        ("backend", "qsim", "pip install -c constraints.txt ./qstore-backend-gpu"),
        ("backend", "lightning.gpu", "pip install -c constraints.txt ./qstore-backend-gpu"),
        ("backend", "ionq.qpu.aria-1", "pip install -c constraints.txt ./qstore-backend-ionq"),
        ("backend", "torch", "pip install -c constraints.txt ./qstore-torch"),
        ("backend", "tf", "pip install -c constraints.txt ./qstore-tf"),
        ("framework", "tensorflow", "pip install -c constraints.txt ./qstore-tf"),
        ("storage", "faiss", "pip install -c constraints.txt ./qstore-storage"),
        ("backend", "numpi", "Did you mean 'numpy'?"),
    ],
)
def test_unknown_name_lists_installed_and_suggests_a_distribution(
    registry: PluginRegistry, kind: str, name: str, hint: str
) -> None:
    registry.add_plugin(BUILTIN, name="core")
    with pytest.raises(PluginNotFoundError) as info:
        registry.create(kind, name)  # type: ignore[arg-type]
    assert (
        type(info.value)
        is {
            "backend": BackendNotFoundError,
            "framework": FrameworkNotFoundError,
            "storage": StorageNotFoundError,
        }[kind]
    )
    message = str(info.value)
    assert f"no {kind} named {name!r}" in message
    assert hint in message
    if kind == "backend":
        assert "Installed backend names: numpy." in message


def test_unknown_name_explains_an_installed_but_failed_provider(registry: PluginRegistry) -> None:
    registry.add_plugin("qstore_missing_gpu_xyz", name="gpu", distribution="qstore-backend-gpu")
    with pytest.raises(BackendNotFoundError, match="failed to load: ModuleNotFoundError"):
        registry.get_backend("qsim")


# -- entry points of installed distributions ----------------------------------------------------


def test_third_party_distribution_on_sys_path_registers_a_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_distribution
) -> None:
    module, plugin = unique("tinysim"), unique("tinysim_plugin")
    ep = unique("tiny")
    make_distribution(
        tmp_path,
        "qstore-tinysim",
        "1.2.3",
        {ep: plugin},
        {
            module: THIRD_PARTY_BACKEND.format(name="tiny.sim"),
            plugin: THIRD_PARTY_PLUGIN.format(name="tiny.sim", module=module),
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = PluginRegistry.from_entry_points(strict=False, disabled=(), trace=False)
    record = next(r for r in registry.plugins() if r.name == ep)
    assert (record.distribution, record.version, record.status) == ("qstore-tinysim", "1.2.3", "ok")
    assert record.registers == ("backend tiny.sim",)
    assert module not in sys.modules
    backend = registry.get_backend("tiny.sim")
    assert backend.capabilities.name == "tiny.sim"
    result = backend.run(Circuit(2).h(0).cnot(0, 1), observables=["Z0 Z1"])
    assert result.expectations.tolist() == [[pytest.approx(1.0)]]


def test_broken_and_clashing_distributions_are_reported_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_distribution
) -> None:
    broken, first, second = unique("broken"), unique("first"), unique("second")
    name = unique("clash").replace("_", "-")
    plugin = "from qstore.core.hookspecs import hookimpl\n\n@hookimpl\ndef register_backends(register):\n    register({name!r}, 'qstore.core.numpy_backend:NumpyBackend')\n"
    make_distribution(
        tmp_path,
        "qstore-broken",
        "0.0.1",
        {broken: broken},
        {broken: "raise ImportError('needs a library that is not here')\n"},
    )
    make_distribution(tmp_path, "qstore-first", "1.0", {first: first}, {first: plugin.format(name=name)})
    make_distribution(tmp_path, "qstore-second", "2.0", {second: second}, {second: plugin.format(name=name)})
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = PluginRegistry.from_entry_points(strict=False, disabled=(), trace=False)
    ours = [w for w in caught if "qstore plugin" in str(w.message)]
    assert len(ours) == 1
    assert "qstore-broken 0.0.1" in str(ours[0].message)
    records = {r.name: r for r in registry.plugins()}
    assert records[broken].status == "error"
    assert records[broken].error == "ImportError: needs a library that is not here"
    assert (records[broken].distribution, records[broken].version) == ("qstore-broken", "0.0.1")
    with pytest.raises(PluginError, match=r"qstore-first 1\.0 .* and qstore-second 2\.0"):
        registry.get_backend(name)
    assert isinstance(registry.get_backend("numpy"), NumpyBackend)


def test_disable_switch_blocks_an_installed_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_distribution
) -> None:
    plugin = unique("blocked")
    make_distribution(tmp_path, "qstore-blocked", "1.0", {plugin: plugin}, {plugin: "raise SystemError\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("QSTORE_DISABLE_PLUGINS", f"unrelated,{plugin}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry = PluginRegistry.from_entry_points(strict=False, trace=False)
    record = next(r for r in registry.plugins() if r.name == plugin)
    assert record.status == "disabled"
    assert plugin not in sys.modules


def test_third_party_plugin_in_a_subprocess(tmp_path: Path, make_distribution) -> None:
    """The same discovery with a clean interpreter: the CLI lists it and get_backend returns it."""
    make_distribution(
        tmp_path,
        "qstore-tinysim",
        "1.2.3",
        {"tiny": "tinysim_plugin"},
        {
            "tinysim": THIRD_PARTY_BACKEND.format(name="tiny.sim"),
            "tinysim_plugin": THIRD_PARTY_PLUGIN.format(name="tiny.sim", module="tinysim"),
        },
    )
    code = textwrap.dedent(
        """
        import contextlib, io, json, sys
        from qstore.core.cli import main
        from qstore.core.plugins import get_backend
        from qstore.core.circuit import Circuit
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main(["plugins", "list", "--json"])
        listed = json.loads(out.getvalue())
        result = get_backend("tiny.sim").run(Circuit(2).h(0).cnot(0, 1), observables=["Z0 Z1"])
        print(json.dumps({"listed": listed, "value": float(result.expectations[0, 0]),
                          "imported": "tinysim" in sys.modules}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    tiny = next(p for p in data["listed"] if p["name"] == "tiny")
    assert (tiny["distribution"], tiny["version"], tiny["status"]) == ("qstore-tinysim", "1.2.3", "ok")
    assert tiny["registers"] == ["backend tiny.sim"]
    assert data["value"] == pytest.approx(1.0)
    assert data["imported"] is True
