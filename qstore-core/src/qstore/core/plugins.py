"""The plugin registry: entry points of group ``qstore``, loaded one by one on pluggy.

Plugins implement `qstore.core.hookspecs`, registering names and factories imported only when used.
A plugin that fails is recorded with its distribution and skipped with one warning (or raises under
``QSTORE_STRICT_PLUGINS=1``); ``QSTORE_DISABLE_PLUGINS=a,b`` blocks plugins, by entry-point or
distribution name, with pluggy's ``set_blocked``; ``QSTORE_TRACE_PLUGINS=1`` turns on pluggy's trace.
Two plugins registering one name of one kind clash: the name is unusable and both are listed with an
error. The module-level functions use a default registry that tests replace with `use_registry`.
"""

from __future__ import annotations

import contextlib
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
from difflib import get_close_matches
from fnmatch import fnmatchcase
from typing import Any, Literal

import attrs
import pluggy

from qstore.core import errors, hookspecs
from qstore.core.backend import Backend
from qstore.core.errors import CapabilityError, PluginError
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
_HOOKS = {
    "backend": "register_backends",
    "framework": "register_frameworks",
    "storage": "register_storage",
    "command": "register_commands",
}
_NOT_FOUND = {
    "backend": errors.BackendNotFoundError,
    "framework": errors.FrameworkNotFoundError,
    "storage": errors.StorageNotFoundError,
}
# What a factory of each kind must return: a test, and its name for the error message.
_PRODUCTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "backend": (lambda obj: isinstance(obj, Backend), "a qstore.core.backend.Backend"),
    "framework": (
        lambda obj: isinstance(obj, hookspecs.FrameworkAdapter),
        "a qstore.core.hookspecs.FrameworkAdapter (with a QuantumLayer)",
    ),
    "storage": (is_store, f"a store of one of the storage protocols {STORAGE_KINDS}"),
    "command": (
        lambda obj: isinstance(obj, hookspecs.Command),
        "a qstore.core.hookspecs.Command (with configure and run)",
    ),
}
# The distribution of this repository that provides a well-known "kind name" (fnmatch patterns).
_PROVIDERS = {
    "qstore-torch": ("backend torch", "framework torch"),
    "qstore-tf": ("backend tf", "framework tensorflow"),
    "qstore-backend-gpu": ("backend qsim", "backend lightning*"),
    "qstore-backend-ionq": ("backend ionq*",),
    "qstore-storage": ("storage zarr", "storage parquet", "storage faiss"),
    "qstore-service": ("command serve",),
}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\Z")
_MODULE = re.compile(r"[A-Za-z_]\w*\Z")


def _origin(plugin: str, distribution: str | None, version: str | None) -> str:
    return f"{distribution} {version or '?'} (plugin {plugin!r})" if distribution else f"plugin {plugin!r}"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


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
        """The factory, importing a ``"module:attr"`` now; a missing module is a `PluginError`."""
        where, missing = f"{self.kind} {self.name!r} from {self.origin}", self.missing_requires()
        if missing:
            raise PluginError(f"{where} needs {', '.join(missing)}, which cannot be imported; install it")
        try:
            factory = self.factory if callable(self.factory) else pkgutil.resolve_name(self.factory)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"{where} could not load its factory {self.factory!r}: {_brief(exc)}") from exc
        if not callable(factory):
            raise PluginError(f"{where}: {self.factory!r} is not callable")
        return factory  # type: ignore[no-any-return]


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _registration(
    kind: Kind, name: Any, factory: Any, plugin: PluginRecord, info: dict[str, Any]
) -> Registration:
    """Validate one ``register(...)`` call; every mistake is a `PluginError` naming the fix."""
    allowed = sorted({"requires", "description", *(["kinds"] if kind == "storage" else [])})
    unknown = sorted(set(info) - set(allowed))
    requires, kinds, text = info.get("requires", ()), info.get("kinds", ()), info.get("description", "")
    lists = all(isinstance(v, tuple | list) and all(isinstance(s, str) for s in v) for v in (requires, kinds))
    valid_factory = callable(factory) or (isinstance(factory, str) and _FACTORY.match(factory))
    checks = [
        (isinstance(name, str) and _NAME.match(name), "a name takes lower-case letters, digits and '._-'"),
        (valid_factory, f"factory {factory!r} is neither a callable nor 'module:attr'"),
        (
            not unknown,
            f"unknown keywords {unknown}; a registration declares only {allowed} (qubits, devices, "
            "precision and gradient methods come from the backend's Capabilities)",
        ),
        (
            lists and all(map(_MODULE.match, requires)),
            f"requires {requires!r} is not a tuple of top-level module names",
        ),
        (
            lists and set(kinds) <= set(STORAGE_KINDS),
            f"kinds {kinds!r} is not a tuple drawn from {STORAGE_KINDS}",
        ),
        (isinstance(text, str), f"description {text!r} is not a string"),
    ]
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise PluginError(f"{kind} {name!r}: {'; '.join(problems)}")
    dist, version = plugin.distribution, plugin.version
    return Registration(kind, name, factory, plugin.name, dist, version, (*requires,), text, (*kinds,))


@attrs.frozen
class PluginRecord:
    """What `list_plugins` reports about one plugin."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    registers: tuple[str, ...] = ()
    status: Literal["ok", "error", "disabled"] = "ok"
    error: str | None = None

    @property
    def origin(self) -> str:
        """``"dist version (plugin 'name')"``, for messages."""
        return _origin(self.name, self.distribution, self.version)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``qstore plugins list --json``."""
        return attrs.asdict(self, recurse=False) | {"registers": list(self.registers)}


class PluginRegistry:
    """Backends, framework adapters, storage drivers and commands registered by plugins, by name.

    ``strict``, ``disabled`` and ``trace`` default to the ``QSTORE_*_PLUGINS`` environment switches.
    Build one from the installed entry points with `from_entry_points`, or add plugin modules
    explicitly with `add_plugin` (what tests do).
    """

    def __init__(
        self, *, strict: bool | None = None, disabled: Sequence[str] | None = None, trace: bool | None = None
    ) -> None:
        listed = os.environ.get("QSTORE_DISABLE_PLUGINS", "").split(",") if disabled is None else disabled
        self.strict = _env_flag("QSTORE_STRICT_PLUGINS") if strict is None else strict
        self.disabled = frozenset(filter(None, (name.strip() for name in listed)))
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        for name in self.disabled:
            self._pm.set_blocked(name)
        if _env_flag("QSTORE_TRACE_PLUGINS") if trace is None else trace:
            self._pm.trace.root.setwriter(sys.stderr.write)
            self._pm.enable_tracing()
        self._trace = self._pm.trace.root.get("registry")
        self._records: list[PluginRecord] = []
        self._table: dict[tuple[str, str], list[Registration]] = {}  # the one clash table

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP, **kwargs: Any) -> PluginRegistry:
        """A registry holding every installed plugin of ``group``; warns once if any failed."""
        registry = cls(**kwargs)
        for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: (e.name, e.value)):
            dist = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
            registry.add_plugin(ep.value, name=ep.name, distribution=dist[0], version=dist[1])
        failed = [f"{p.origin}: {p.error}" for p in registry.plugins() if p.status == "error"]
        if failed:
            warnings.warn(
                f"{len(failed)} qstore plugin(s) failed and were skipped: {'; '.join(failed)}. Run "
                "`qstore plugins list` for details, or set QSTORE_STRICT_PLUGINS=1 to raise.",
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
        record = PluginRecord(name or module, module, distribution, version)
        if distribution in self.disabled:
            self._pm.set_blocked(record.name)
        if self._pm.is_blocked(record.name):
            record = attrs.evolve(record, status="disabled")
        else:
            try:
                registrations = self._register(plugin, record)
            except Exception as exc:
                if self.strict:
                    raise PluginError(
                        f"qstore {record.origin} failed to load: {_brief(exc)} (unset QSTORE_STRICT_PLUGINS "
                        "to skip it)"
                    ) from exc
                record = attrs.evolve(record, status="error", error=_brief(exc))
            else:
                record = attrs.evolve(record, registers=tuple(f"{r.kind} {r.name}" for r in registrations))
                for reg in registrations:
                    self._table.setdefault((reg.kind, reg.name), []).append(reg)
                    if self.strict and len(self._table[reg.kind, reg.name]) > 1:
                        raise PluginError(self._clash(reg.kind, reg.name))
        self._trace(record.status, record.origin, record.error or "")
        self._records.append(record)
        return self._with_clashes(record)

    def _register(self, plugin: object, record: PluginRecord) -> list[Registration]:
        """Register with pluggy and call only this plugin's hooks; on failure it is unregistered."""
        obj = importlib.import_module(plugin) if isinstance(plugin, str) else plugin
        self._pm.register(obj, name=record.name)  # raises on a plugin name or object seen before
        registrations: list[Registration] = []

        def registrar(kind: Kind) -> hookspecs.Register:
            def register(name: Any, factory: Any, /, **info: Any) -> None:
                if any((r.kind, r.name) == (kind, name) for r in registrations):
                    raise PluginError(f"{kind} {name!r} is registered twice by the same plugin")
                registrations.append(_registration(kind, name, factory, record, info))
                self._trace("register", kind, name, "->", factory)

            return register

        try:
            self._pm.check_pending()  # a misspelt hook name is an error, not a silent no-op
            others = [p for p in self._pm.get_plugins() if p is not obj]
            for kind in KINDS:
                self._pm.subset_hook_caller(_HOOKS[kind], remove_plugins=others)(register=registrar(kind))
        except Exception:
            self._pm.unregister(obj)
            raise
        return registrations

    def _clash(self, kind: str, name: str) -> str:
        regs = self._table[kind, name]
        return (
            f"{kind} {name!r} is registered by both {' and '.join(r.origin for r in regs)}; "
            f"uninstall one, or block one with QSTORE_DISABLE_PLUGINS={regs[-1].plugin}"
        )

    def _with_clashes(self, record: PluginRecord) -> PluginRecord:
        """``record``, made an error if another plugin registers one of its names too."""
        keys = [registered.split(" ", 1) for registered in record.registers]
        clashes = "; ".join(self._clash(k, n) for k, n in keys if len(self._table[k, n]) > 1)
        return attrs.evolve(record, status="error", error=clashes) if clashes else record

    def plugins(self) -> list[PluginRecord]:
        """Every plugin seen, loaded or not, sorted by name."""
        return sorted(map(self._with_clashes, self._records), key=lambda r: (r.name, r.distribution or ""))

    def entries(self, kind: Kind) -> list[Registration]:
        """The usable registrations of ``kind`` sorted by name (clashing names are errors, left out)."""
        return sorted(
            (r[0] for (k, _), r in self._table.items() if k == kind and len(r) == 1), key=lambda r: r.name
        )

    def names(self, kind: Kind) -> list[str]:
        """Sorted names usable for ``kind``."""
        return [r.name for r in self.entries(kind)]

    def entry(self, kind: Kind, name: str) -> Registration:
        """The registration of ``name``; a `PluginNotFoundError` subclass or a clash `PluginError`."""
        regs = self._table.get((kind, name), [])
        if len(regs) > 1:
            raise PluginError(self._clash(kind, name))
        if not regs:
            raise _NOT_FOUND.get(kind, errors.PluginNotFoundError)(self._not_found(kind, name))
        return regs[0]

    def create(self, kind: Kind, name: str, /, **options: Any) -> Any:
        """Build ``name`` of ``kind`` with ``options``; only now is its module imported."""
        reg = self.entry(kind, name)
        factory = reg.load_factory()
        _check_options(reg, factory, options)
        obj = factory(**options)
        accepts, expected = _PRODUCTS[kind]
        if not accepts(obj):
            raise PluginError(
                f"{kind} {name!r} from {reg.origin} returned {type(obj).__name__}, not {expected}"
            )
        return obj

    @property
    def hook(self) -> Any:
        """pluggy's hook relay, for calling hooks such as ``qstore_choose_backend``."""
        return self._pm.hook

    def get_backend(self, name: str, /, **options: Any) -> Backend:
        """The backend registered as ``name``, built with ``options``."""
        return self.create("backend", name, **options)  # type: ignore[no-any-return]

    def get_framework(self, name: str, /, **options: Any) -> hookspecs.FrameworkAdapter:
        """The framework adapter registered as ``name``."""
        return self.create("framework", name, **options)  # type: ignore[no-any-return]

    def get_storage(self, name: str, /, **options: Any) -> Any:
        """The store built by the storage driver ``name``."""
        return self.create("storage", name, **options)

    def _not_found(self, kind: Kind, name: str) -> str:
        """Why ``name`` is unknown: what is installed, a close name, and which distribution has it."""
        installed = self.names(kind)
        parts = [f"no {kind} named {name!r}. Installed {kind} names: {', '.join(installed) or '(none)'}."]
        parts += [f"Did you mean {close!r}?" for close in get_close_matches(name, installed, n=1)]
        dist = next(
            (d for d, pats in _PROVIDERS.items() if any(fnmatchcase(f"{kind} {name}", p) for p in pats)), ""
        )
        found = [p for p in self.plugins() if dist and p.distribution == dist]
        if dist and not found:
            parts.append(f"{name!r} comes with {dist}; from a clone: pip install -c constraints.txt ./{dist}")
        for p in found:
            why = {"disabled": "is disabled by QSTORE_DISABLE_PLUGINS", "error": f"failed to load: {p.error}"}
            parts.append(f"{p.origin} {why.get(p.status, f'is installed but does not register {name!r}')}.")
        return " ".join(parts)


def _check_options(reg: Registration, factory: Callable[..., Any], options: dict[str, Any]) -> None:
    """Refuse options the factory cannot take with a `CapabilityError` listing the valid ones."""
    try:
        inspect.signature(factory).bind(**options)
    except ValueError:  # some builtins have no signature; the call itself will tell
        return
    except TypeError as exc:
        params = inspect.signature(factory).parameters.values()
        valid = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        close = [c for o in options if o not in valid for c in get_close_matches(o, valid, 1)]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CapabilityError(
            f"{reg.kind} {reg.name!r}: {exc}{hint}. Valid options: {', '.join(valid) or '(none)'}"
        ) from None


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
