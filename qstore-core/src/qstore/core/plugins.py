"""The plugin registry: entry points of group ``qstore``, loaded one by one on pluggy.

Each plugin module implements hooks from `qstore.core.hookspecs` and registers names and
factories; nothing heavy is imported until a backend, adapter or store is created. A plugin that
fails to import, or whose hook raises, is recorded with its distribution and version and skipped,
with one warning; the others load. Environment switches:

* ``QSTORE_STRICT_PLUGINS=1``: raise a `PluginError` naming the plugin and its distribution.
* ``QSTORE_DISABLE_PLUGINS=a,b``: block the named plugins (entry-point or distribution names);
  blocked plugins are never imported (pluggy's ``set_blocked``).
* ``QSTORE_TRACE_PLUGINS=1``: print plugin loading and every hook call to stderr (pluggy's tracing).

Two plugins registering the same name for the same kind is a clash: the name is unusable, both
plugins are listed with an error naming both distributions, and asking for it raises `PluginError`
(strict mode raises while loading). There is no silent precedence. Plugin-name duplicates are
pluggy's own check. The module-level functions use a default registry built on first use; tests
install their own with `isolated_registry` or `use_registry`.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import pkgutil
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import attrs
import pluggy

from qstore.core import hookspecs
from qstore.core.backend import Backend
from qstore.core.errors import (
    BackendNotFoundError,
    CapabilityError,
    FrameworkNotFoundError,
    PluginError,
    PluginNotFoundError,
    StorageNotFoundError,
)
from qstore.core.storage import STORAGE_KINDS, is_store

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "PluginRecord",
    "PluginRegistry",
    "Registration",
    "default_registry",
    "get_backend",
    "get_framework",
    "get_storage",
    "isolated_registry",
    "list_backends",
    "list_frameworks",
    "list_plugins",
    "list_storage",
    "use_registry",
]

ENTRY_POINT_GROUP = "qstore"
Kind = Literal["backend", "framework", "storage", "command"]
KINDS: tuple[Kind, ...] = ("backend", "framework", "storage", "command")
_HOOKS: dict[Kind, str] = {
    "backend": "register_backends",
    "framework": "register_frameworks",
    "storage": "register_storage",
    "command": "register_commands",
}
_PLURAL = {
    "backend": "backends",
    "framework": "framework adapters",
    "storage": "storage drivers",
    "command": "commands",
}
_NOT_FOUND: dict[Kind, type[PluginNotFoundError]] = {
    "backend": BackendNotFoundError,
    "framework": FrameworkNotFoundError,
    "storage": StorageNotFoundError,
    "command": PluginNotFoundError,
}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\Z")
_MODULE = re.compile(r"[A-Za-z_]\w*\Z")
# Which distribution of this repository provides a well-known name (fnmatch patterns).
_PROVIDERS: tuple[tuple[Kind, str, str], ...] = (
    ("backend", "torch", "qstore-torch"),
    ("backend", "tf", "qstore-tf"),
    ("backend", "qsim", "qstore-backend-gpu"),
    ("backend", "lightning*", "qstore-backend-gpu"),
    ("backend", "ionq*", "qstore-backend-ionq"),
    ("framework", "torch", "qstore-torch"),
    ("framework", "tensorflow", "qstore-tf"),
    ("storage", "zarr", "qstore-storage"),
    ("storage", "parquet", "qstore-storage"),
    ("storage", "faiss", "qstore-storage"),
    ("command", "serve", "qstore-service"),
)


def _origin(plugin: str, distribution: str | None, version: str | None) -> str:
    if distribution is None:
        return f"plugin {plugin!r}"
    return f"{distribution} {version or '?'} (plugin {plugin!r})"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> frozenset[str]:
    return frozenset(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())


@attrs.frozen
class Registration:
    """One registered name: its kind, factory, declared requirements and the plugin behind it."""

    kind: Kind
    name: str
    factory: Callable[..., Any] | str = attrs.field(eq=False)
    plugin: str
    distribution: str | None = None
    version: str | None = None
    requires: tuple[str, ...] = ()
    description: str = ""
    kinds: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        """Where this came from, for messages: ``"qstore-torch 0.1.0 (plugin 'torch')"``."""
        return _origin(self.plugin, self.distribution, self.version)

    def missing_requires(self) -> tuple[str, ...]:
        """The required modules that cannot be found; checked with ``find_spec``, never imported."""
        return tuple(m for m in self.requires if importlib.util.find_spec(m) is None)

    def load_factory(self) -> Callable[..., Any]:
        """The factory itself, importing ``"module:attr"`` now; import failures are `PluginError`."""
        if callable(self.factory):
            return self.factory
        try:
            obj = pkgutil.resolve_name(self.factory)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"{self.kind} {self.name!r} from {self.origin} could not load its factory "
                f"{self.factory!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(obj):
            raise PluginError(f"{self.kind} {self.name!r}: {self.factory!r} is not callable")
        return obj  # type: ignore[no-any-return]


def _registration(kind: Kind, name: Any, factory: Any, plugin: _Plugin, info: dict[str, Any]) -> Registration:
    """Validate one ``register(...)`` call; every mistake is a `PluginError` naming the fix."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(
            f"invalid {kind} name {name!r}: use lower-case letters, digits and '._-', "
            "starting with a letter or digit"
        )
    if isinstance(factory, str) and not _FACTORY.match(factory):
        raise PluginError(f"{kind} {name!r}: factory {factory!r} must be 'module:attr' or a callable")
    if not isinstance(factory, str) and not callable(factory):
        raise PluginError(f"{kind} {name!r}: factory must be a callable or 'module:attr'")
    allowed = {"requires", "description"} | ({"kinds"} if kind == "storage" else set())
    unknown = sorted(set(info) - allowed)
    if unknown:
        raise PluginError(
            f"{kind} {name!r}: unknown registration keywords {unknown}; a registration declares only "
            f"{sorted(allowed)} (qubits, devices, precision and gradient methods come from the "
            "backend's Capabilities)"
        )
    lists = {}
    for key in ("requires", "kinds"):
        value = info.get(key, ())
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise PluginError(f"{kind} {name!r}: {key} must be a tuple of strings, got {value!r}")
        lists[key] = tuple(value)
    bad = [m for m in lists["requires"] if not _MODULE.match(m)]
    if bad:
        raise PluginError(f"{kind} {name!r}: requires lists top-level import names; got {bad}")
    bad = [k for k in lists["kinds"] if k not in STORAGE_KINDS]
    if bad:
        raise PluginError(f"{kind} {name!r}: unknown kinds {bad}; allowed: {list(STORAGE_KINDS)}")
    description = info.get("description", "")
    if not isinstance(description, str):
        raise PluginError(f"{kind} {name!r}: description must be a string, got {description!r}")
    return Registration(
        kind,
        name,
        factory,
        plugin.name,
        plugin.distribution,
        plugin.version,
        description=description,
        **lists,
    )


@attrs.frozen
class PluginRecord:
    """What `list_plugins` reports about one plugin."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    registers: tuple[str, ...]
    status: Literal["ok", "error", "disabled"]
    error: str | None = None

    @property
    def origin(self) -> str:
        """``"dist version (plugin 'name')"``, for messages."""
        return _origin(self.name, self.distribution, self.version)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``qstore plugins list --json``."""
        return attrs.asdict(self, recurse=False) | {"registers": list(self.registers)}


@attrs.define
class _Plugin:
    name: str
    module: str
    distribution: str | None
    version: str | None
    registrations: tuple[Registration, ...] = ()
    error: str | None = None
    disabled: bool = False


class PluginRegistry:
    """Backends, framework adapters and storage drivers registered by plugins, keyed by name.

    ``strict``, ``disabled`` and ``trace`` default to the ``QSTORE_*_PLUGINS`` environment switches.
    Build one from the installed entry points with `from_entry_points`, or add plugin modules
    explicitly with `add_plugin` (what tests do).
    """

    def __init__(
        self, *, strict: bool | None = None, disabled: Sequence[str] | None = None, trace: bool | None = None
    ) -> None:
        self.strict = _env_flag("QSTORE_STRICT_PLUGINS") if strict is None else strict
        self.disabled = _env_list("QSTORE_DISABLE_PLUGINS") if disabled is None else frozenset(disabled)
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        for name in self.disabled:
            self._pm.set_blocked(name)
        self._trace = self._pm.trace.root.get("registry")
        if _env_flag("QSTORE_TRACE_PLUGINS") if trace is None else trace:
            self._pm.trace.root.setwriter(sys.stderr.write)
            self._pm.enable_tracing()
        self._plugins: list[_Plugin] = []
        self._table: dict[tuple[Kind, str], list[Registration]] = {}  # the one clash table

    # -- loading --------------------------------------------------------------------------------

    @classmethod
    def from_entry_points(
        cls, group: str = ENTRY_POINT_GROUP, *, warn: bool = True, **kwargs: Any
    ) -> PluginRegistry:
        """A registry holding every installed plugin of ``group``; warns once if any failed."""
        registry = cls(**kwargs)
        for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: (e.name, e.value)):
            dist = ep.dist
            registry.add_plugin(
                ep.value,
                name=ep.name,
                distribution=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        failed = [p for p in registry.plugins() if p.status == "error"]
        if warn and failed:
            details = "; ".join(f"{p.origin}: {p.error}" for p in failed)
            warnings.warn(
                f"{len(failed)} qstore plugin(s) failed and were skipped: {details}. "
                "Run `qstore plugins list` for details, or set QSTORE_STRICT_PLUGINS=1 to raise.",
                RuntimeWarning,
                stacklevel=2,
            )
        return registry

    def add_plugin(
        self,
        plugin: object,
        *,
        name: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord:
        """Load one plugin: a module, an object with hook implementations, or an import path."""
        module = plugin if isinstance(plugin, str) else getattr(plugin, "__name__", type(plugin).__qualname__)
        state = _Plugin(name or module, module, distribution, version)
        self._plugins.append(state)
        origin = _origin(state.name, distribution, version)
        if distribution in self.disabled:
            self._pm.set_blocked(state.name)
        if self._pm.is_blocked(state.name):
            state.disabled = True
            self._trace("disabled", origin)
            return self._record(state)
        self._trace("loading", origin)
        try:
            obj = importlib.import_module(plugin) if isinstance(plugin, str) else plugin
            state.registrations = self._register(obj, state)
        except Exception as exc:
            state.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self._trace("failed", origin, state.error)
            if self.strict:
                raise PluginError(
                    f"qstore {origin} failed to load: {state.error} (unset QSTORE_STRICT_PLUGINS to skip it)"
                ) from exc
            return self._record(state)
        for reg in state.registrations:
            clash = self._table.setdefault((reg.kind, reg.name), [])
            clash.append(reg)
            if self.strict and len(clash) > 1:
                raise PluginError(self._clash_message(reg.kind, reg.name))
        return self._record(state)

    def _register(self, obj: object, state: _Plugin) -> tuple[Registration, ...]:
        """Register ``obj`` with pluggy and run only its hooks; nothing is kept if that fails."""
        self._pm.register(obj, name=state.name)  # pluggy rejects a plugin name or object seen before
        pending: list[Registration] = []
        try:
            self._pm.check_pending()  # a misspelt hook name is an error, not a silent no-op
            others = [p for p in self._pm.get_plugins() if p is not obj]
            for kind, hook in _HOOKS.items():
                caller = self._pm.subset_hook_caller(hook, remove_plugins=others)
                caller(register=self._registrar(kind, state, pending))
        except Exception:
            self._pm.unregister(obj)
            raise
        return tuple(pending)

    def _registrar(self, kind: Kind, state: _Plugin, pending: list[Registration]) -> hookspecs.Register:
        def register(name: Any, factory: Any, /, **info: Any) -> None:
            reg = _registration(kind, name, factory, state, info)
            if any(p.kind == reg.kind and p.name == reg.name for p in pending):
                raise PluginError(f"{reg.kind} {reg.name!r} is registered twice by the same plugin")
            self._trace("register", reg.kind, reg.name, "->", factory)
            pending.append(reg)

        return register

    def _clash_message(self, kind: Kind, name: str) -> str:
        regs = self._table[(kind, name)]
        return (
            f"{kind} {name!r} is registered by both {' and '.join(r.origin for r in regs)}; "
            f"uninstall one, or block one with QSTORE_DISABLE_PLUGINS={regs[-1].plugin}"
        )

    def _record(self, state: _Plugin) -> PluginRecord:
        clashes = [
            self._clash_message(r.kind, r.name)
            for r in state.registrations
            if len(self._table[(r.kind, r.name)]) > 1
        ]
        error = "; ".join(([state.error] if state.error else []) + clashes) or None
        status: Literal["ok", "error", "disabled"] = (
            "disabled" if state.disabled else "error" if error else "ok"
        )
        registers = tuple(f"{r.kind} {r.name}" for r in state.registrations)
        return PluginRecord(
            state.name, state.module, state.distribution, state.version, registers, status, error
        )

    # -- queries --------------------------------------------------------------------------------

    def plugins(self) -> list[PluginRecord]:
        """Every plugin seen, loaded or not, sorted by name."""
        return sorted((self._record(p) for p in self._plugins), key=lambda r: (r.name, r.distribution or ""))

    def entries(self, kind: Kind) -> list[Registration]:
        """The usable registrations of ``kind`` sorted by name (clashing names are errors, left out)."""
        kind = _check_kind(kind)
        return sorted(
            (regs[0] for (k, _), regs in self._table.items() if k == kind and len(regs) == 1),
            key=lambda r: r.name,
        )

    def names(self, kind: Kind) -> list[str]:
        """Sorted names usable for ``kind``."""
        return [r.name for r in self.entries(kind)]

    def entry(self, kind: Kind, name: str) -> Registration:
        """The registration of ``name``; a `PluginNotFoundError` subclass or a clash `PluginError`."""
        regs = self._table.get((_check_kind(kind), name), [])
        if len(regs) > 1:
            raise PluginError(self._clash_message(kind, name))
        if not regs:
            raise _NOT_FOUND[kind](self._not_found(kind, name))
        return regs[0]

    def create(self, kind: Kind, name: str, /, **options: Any) -> Any:
        """Build ``name`` of ``kind`` with ``options``; only now is its module imported."""
        reg = self.entry(kind, name)
        missing = reg.missing_requires()
        if missing:
            raise PluginError(
                f"{kind} {name!r} from {reg.origin} needs {', '.join(missing)}, which "
                "cannot be imported in this environment; install it and try again"
            )
        factory = reg.load_factory()
        _check_options(reg, factory, options)
        self._trace("create", kind, name, options)
        obj = factory(**options)
        if kind == "backend" and not isinstance(obj, Backend):
            raise PluginError(
                f"backend {name!r} from {reg.origin} returned {type(obj).__name__}, "
                "not a qstore.core.backend.Backend"
            )
        if kind == "framework":
            absent = [m for m in hookspecs.FrameworkAdapter.__annotations__ if not hasattr(obj, m)]
            if absent:
                raise PluginError(
                    f"framework {name!r} from {reg.origin} returned {type(obj).__name__} without "
                    f"{absent}; a framework factory returns a qstore.core.hookspecs.FrameworkAdapter"
                )
        if kind == "command" and not all(callable(getattr(obj, m, None)) for m in ("configure", "run")):
            raise PluginError(
                f"command {name!r} from {reg.origin} returned {type(obj).__name__} without configure/run; "
                "a command factory returns a qstore.core.hookspecs.Command"
            )
        if kind == "storage" and not is_store(obj):
            raise PluginError(
                f"storage {name!r} from {reg.origin} returned {type(obj).__name__}, which "
                f"implements none of the storage protocols ({', '.join(STORAGE_KINDS)})"
            )
        return obj

    @property
    def hook(self) -> Any:
        """pluggy's hook relay, for calling hooks such as ``qstore_choose_backend``."""
        return self._pm.hook

    def get_backend(self, name: str, /, **options: Any) -> Backend:
        """The backend registered as ``name``, built with ``options``."""
        backend: Backend = self.create("backend", name, **options)
        return backend

    def get_framework(self, name: str, /, **options: Any) -> hookspecs.FrameworkAdapter:
        """The framework adapter registered as ``name``."""
        adapter: hookspecs.FrameworkAdapter = self.create("framework", name, **options)
        return adapter

    def get_storage(self, name: str, /, **options: Any) -> Any:
        """The store built by the storage driver ``name``."""
        return self.create("storage", name, **options)

    def _not_found(self, kind: Kind, name: str) -> str:
        installed = self.names(kind)
        parts = [
            f"no {kind} named {name!r}.",
            f"Installed {_PLURAL[kind]}: {', '.join(installed) if installed else '(none)'}.",
        ]
        close = difflib.get_close_matches(name, installed, n=1)
        if close:
            parts.append(f"Did you mean {close[0]!r}?")
        provider = next((d for k, pat, d in _PROVIDERS if k == kind and fnmatch.fnmatchcase(name, pat)), None)
        states = [p for p in self.plugins() if provider is not None and p.distribution == provider]
        if provider is not None and not states:
            parts.append(
                f"{name!r} comes with {provider}; from a clone: pip install -c constraints.txt ./{provider}"
            )
        for p in states:
            if p.status == "disabled":
                parts.append(f"{p.origin} is disabled by QSTORE_DISABLE_PLUGINS.")
            elif p.error:
                parts.append(f"{p.origin} failed to load: {p.error}")
            else:
                parts.append(f"{p.origin} is installed but does not register {name!r}.")
        return " ".join(parts)


def _check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise PluginError(f"unknown plugin kind {kind!r}; expected one of {list(KINDS)}")
    return kind  # type: ignore[return-value]


def _check_options(reg: Registration, factory: Callable[..., Any], options: dict[str, Any]) -> None:
    """Refuse options the factory cannot take with a `CapabilityError` listing the valid ones."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins have no signature; the call itself will tell
        return
    params = signature.parameters.values()
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    valid = [p.name for p in named]
    problems = [f"missing option {p.name!r}" for p in named if p.default is p.empty and p.name not in options]
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        for option in sorted(set(options) - set(valid)):
            close = difflib.get_close_matches(option, valid, n=1)
            problems.append(
                f"unknown option {option!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
    if problems:
        raise CapabilityError(
            f"{reg.kind} {reg.name!r}: {'; '.join(problems)}. "
            f"Valid options: {', '.join(valid) if valid else '(none)'}"
        )


# -- the default registry ---------------------------------------------------------------------

_default: PluginRegistry | None = None
_default_lock = threading.RLock()


def default_registry() -> PluginRegistry:
    """The process-wide registry, loaded from the installed entry points on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginRegistry.from_entry_points()
        return _default


@contextlib.contextmanager
def use_registry(registry: PluginRegistry) -> Iterator[PluginRegistry]:
    """Make ``registry`` the default for the duration of the ``with`` block."""
    global _default
    with _default_lock:
        previous, _default = _default, registry
    try:
        yield registry
    finally:
        with _default_lock:
            _default = previous


@contextlib.contextmanager
def isolated_registry(*plugins: object, **kwargs: Any) -> Iterator[PluginRegistry]:
    """A default registry holding only ``plugins`` (modules, objects or import paths).

    ``kwargs`` go to `PluginRegistry`. Tests use it so installed plugins never leak in::

        with isolated_registry("qstore.core.builtin_plugin"):
            assert list_backends() == ["numpy"]
    """
    registry = PluginRegistry(**kwargs)
    for plugin in plugins:
        registry.add_plugin(plugin)
    with use_registry(registry):
        yield registry


def get_backend(name: str, /, **options: Any) -> Backend:
    """The backend registered as ``name`` (e.g. ``"numpy"``), built with ``options``."""
    return default_registry().get_backend(name, **options)


def list_backends() -> list[str]:
    """Names of the installed backends."""
    return default_registry().names("backend")


def get_framework(name: str, /, **options: Any) -> hookspecs.FrameworkAdapter:
    """The framework adapter registered as ``name`` (``"torch"``, ``"tensorflow"``)."""
    return default_registry().get_framework(name, **options)


def list_frameworks() -> list[str]:
    """Names of the installed framework adapters."""
    return default_registry().names("framework")


def get_storage(name: str, /, **options: Any) -> Any:
    """A store from the storage driver ``name``, e.g. ``get_storage("memory", kind="metrics")``."""
    return default_registry().get_storage(name, **options)


def list_storage() -> list[str]:
    """Names of the installed storage drivers."""
    return default_registry().names("storage")


def list_plugins() -> list[PluginRecord]:
    """Every installed plugin: distribution, version, what it registers, and its status."""
    return default_registry().plugins()
