"""The plugin registry: entry points of group ``qstore``, loaded one by one on pluggy.

Each plugin module implements hooks from `qstore.core.hookspecs` and registers names and
factories; nothing heavy is imported until a backend, adapter or store is created. A plugin that
fails to import, or whose hook raises, is recorded with its distribution and version and skipped,
with one warning; the others load. Environment switches:

* ``QSTORE_STRICT_PLUGINS=1``: re-raise a plugin's failure (for plugin authors).
* ``QSTORE_DISABLE_PLUGINS=a,b``: do not import the named plugins (entry-point or distribution names).
* ``QSTORE_TRACE_PLUGINS=1``: print plugin loading and every hook call to stderr (pluggy's tracing).

The module-level functions use a default registry built on first use; tests install their own
with `isolated_registry` or `use_registry`.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs
import pluggy

from qstore.core import hookspecs
from qstore.core.backend import GRADIENT_METHODS, Backend
from qstore.core.errors import BackendNotFoundError, PluginError
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
Kind = Literal["backend", "framework", "storage"]
KINDS: tuple[Kind, ...] = ("backend", "framework", "storage")
_HOOKS: dict[Kind, str] = {
    "backend": "register_backends",
    "framework": "register_frameworks",
    "storage": "register_storage",
}
_INFO_KEYS: dict[Kind, frozenset[str]] = {
    "backend": frozenset({"requires", "description", "max_qubits", "gradient_methods", "devices"}),
    "framework": frozenset({"requires", "description"}),
    "storage": frozenset({"requires", "description", "kinds"}),
}
_PLURAL: dict[Kind, str] = {
    "backend": "backends",
    "framework": "framework adapters",
    "storage": "storage drivers",
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
)
_TRUE = {"1", "true", "yes", "on"}


def _origin(plugin: str, distribution: str | None, version: str | None) -> str:
    if distribution is None:
        return f"plugin {plugin!r}"
    return f"{distribution} {version or '?'} (plugin {plugin!r})"


@attrs.frozen
class Registration:
    """One registered name: its kind, factory, declared info and the plugin that registered it."""

    kind: Kind
    name: str
    factory: Callable[..., Any] | str = attrs.field(eq=False)
    info: Mapping[str, Any]
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def origin(self) -> str:
        """Where this came from, for messages: ``"qstore-torch 0.1.0 (plugin 'torch')"``."""
        return _origin(self.plugin, self.distribution, self.version)

    @property
    def requires(self) -> tuple[str, ...]:
        """Top-level import names the factory needs."""
        return tuple(self.info.get("requires", ()))

    @property
    def description(self) -> str:
        """One-line description declared by the plugin (may be empty)."""
        return str(self.info.get("description", ""))

    def missing_requires(self) -> tuple[str, ...]:
        """The required modules that cannot be found; checked with ``find_spec``, never imported."""
        return tuple(m for m in self.requires if importlib.util.find_spec(m) is None)

    def load_factory(self) -> Callable[..., Any]:
        """The factory itself, importing ``"module:attr"`` now; import failures are `PluginError`."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"{self.kind} {self.name!r} from {self.origin} could not load its factory "
                f"{self.factory!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(obj):
            raise PluginError(f"{self.kind} {self.name!r}: {self.factory!r} is not callable")
        return obj  # type: ignore[no-any-return]


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

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``qstore plugins list --json``."""
        return attrs.asdict(self, recurse=False) | {"registers": list(self.registers)}


@attrs.define
class _PluginState:
    name: str
    module: str
    distribution: str | None
    version: str | None
    registrations: list[Registration] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)
    disabled: bool = False

    def record(self) -> PluginRecord:
        status: Literal["ok", "error", "disabled"] = (
            "disabled" if self.disabled else "error" if self.errors else "ok"
        )
        return PluginRecord(
            name=self.name,
            module=self.module,
            distribution=self.distribution,
            version=self.version,
            registers=tuple(f"{r.kind} {r.name}" for r in self.registrations),
            status=status,
            error="; ".join(self.errors) or None,
        )


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _env_list(name: str) -> frozenset[str]:
    return frozenset(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())


def _tuple_of_str(kind: str, name: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise PluginError(f"{kind} {name!r}: {key} must be a tuple of strings, got {value!r}")
    items = tuple(value)
    if not all(isinstance(v, str) for v in items):
        raise PluginError(f"{kind} {name!r}: {key} must be a tuple of strings, got {value!r}")
    return items


def _check_info(kind: Kind, name: str, info: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(info) - _INFO_KEYS[kind])
    if unknown:
        raise PluginError(
            f"{kind} {name!r}: unknown registration info {unknown}; allowed: {sorted(_INFO_KEYS[kind])}"
        )
    out = dict(info)
    for key in ("requires", "gradient_methods", "devices", "kinds"):
        if key in out:
            out[key] = _tuple_of_str(kind, name, key, out[key])
    bad = [m for m in out.get("requires", ()) if not _MODULE.match(m)]
    if bad:
        raise PluginError(f"{kind} {name!r}: requires lists top-level import names; got {bad}")
    bad = [m for m in out.get("gradient_methods", ()) if m not in GRADIENT_METHODS]
    if bad:
        raise PluginError(
            f"{kind} {name!r}: unknown gradient methods {bad}; allowed: {list(GRADIENT_METHODS)}"
        )
    bad = [k for k in out.get("kinds", ()) if k not in STORAGE_KINDS]
    if bad:
        raise PluginError(f"{kind} {name!r}: unknown kinds {bad}; allowed: {list(STORAGE_KINDS)}")
    if "max_qubits" in out:
        n = out["max_qubits"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise PluginError(f"{kind} {name!r}: max_qubits must be a positive int, got {n!r}")
    if "description" in out and not isinstance(out["description"], str):
        raise PluginError(f"{kind} {name!r}: description must be a string")
    return out


class PluginRegistry:
    """Backends, framework adapters and storage drivers registered by plugins, keyed by name.

    ``strict``, ``disabled`` and ``trace`` default to the ``QSTORE_*_PLUGINS`` environment switches.
    Build one from the installed entry points with `from_entry_points`, or add plugin modules
    explicitly with `add_plugin` (what tests do).
    """

    def __init__(
        self,
        *,
        strict: bool | None = None,
        disabled: Iterable[str] | None = None,
        trace: bool | None = None,
    ) -> None:
        self.strict = _env_flag("QSTORE_STRICT_PLUGINS") if strict is None else strict
        self.disabled = _env_list("QSTORE_DISABLE_PLUGINS") if disabled is None else frozenset(disabled)
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._trace = self._pm.trace.root.get("registry")
        if _env_flag("QSTORE_TRACE_PLUGINS") if trace is None else trace:
            self._pm.trace.root.setwriter(sys.stderr.write)
            self._pm.enable_tracing()
        self._plugins: dict[str, _PluginState] = {}
        self._entries: dict[Kind, dict[str, Registration]] = {k: {} for k in KINDS}
        self._clashes: dict[Kind, dict[str, list[Registration]]] = {k: {} for k in KINDS}

    # -- loading --------------------------------------------------------------------------------

    @classmethod
    def from_entry_points(
        cls, group: str = ENTRY_POINT_GROUP, *, warn: bool = True, **kwargs: Any
    ) -> PluginRegistry:
        """A registry holding every installed plugin of ``group``; warns once if any failed."""
        registry = cls(**kwargs)
        registry.load_entry_points(group, warn=warn)
        return registry

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP, *, warn: bool = True) -> None:
        """Load the entry points of ``group`` one by one, recording (not raising) failures."""
        eps = sorted(importlib.metadata.entry_points(group=group), key=lambda e: (e.name, e.value))
        for ep in eps:
            dist = ep.dist
            self._load(
                ep.name,
                ep.value,
                ep.load,
                dist.name if dist is not None else None,
                dist.version if dist is not None else None,
            )
        failed = [p for p in self._plugins.values() if p.errors]
        if warn and failed:
            details = "; ".join(
                f"{_origin(p.name, p.distribution, p.version)}: {p.errors[0]}" for p in failed
            )
            warnings.warn(
                f"{len(failed)} qstore plugin(s) failed and were skipped: {details}. "
                "Run `qstore plugins list` for details, or set QSTORE_STRICT_PLUGINS=1 to raise.",
                RuntimeWarning,
                stacklevel=2,
            )

    def add_plugin(
        self,
        plugin: object,
        *,
        name: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord:
        """Load one plugin: a module, an object with hook implementations, or an import path."""
        if isinstance(plugin, str):
            module = plugin
            loader: Callable[[], object] = lambda: importlib.import_module(module)  # noqa: E731
        else:
            module = getattr(plugin, "__name__", type(plugin).__qualname__)
            loader = lambda: plugin  # noqa: E731
        return self._load(name or module, module, loader, distribution, version)

    def _load(
        self,
        name: str,
        module: str,
        loader: Callable[[], object],
        distribution: str | None,
        version: str | None,
    ) -> PluginRecord:
        state = _PluginState(name, module, distribution, version)
        origin = _origin(name, distribution, version)
        if name in self._plugins:
            other = self._plugins[name]
            state.errors.append(
                f"plugin name {name!r} is already used by "
                f"{_origin(other.name, other.distribution, other.version)}"
            )
            self._plugins[f"{name} ({distribution or module})"] = state
            if self.strict:
                raise PluginError(f"{origin}: {state.errors[0]}")
            return state.record()
        self._plugins[name] = state
        if name in self.disabled or (distribution is not None and distribution in self.disabled):
            state.disabled = True
            self._trace("disabled", origin)
            return state.record()
        self._trace("loading", origin)
        try:
            obj = loader()
            state.registrations = self._call_hooks(obj, name)
        except Exception as exc:
            state.registrations = []
            state.errors.append(f"{type(exc).__name__}: {exc}")
            self._trace("failed", origin, state.errors[-1])
            if self.strict:
                exc.add_note(f"while loading qstore {origin}; unset QSTORE_STRICT_PLUGINS to skip it")
                raise
            return state.record()
        self._commit(state)
        return state.record()

    def _call_hooks(self, obj: object, name: str) -> list[Registration]:
        """Run ``obj``'s hooks alone and return what it registered (nothing is kept on failure)."""
        self._pm.register(obj, name=name)
        state = self._plugins[name]
        pending: list[Registration] = []
        try:
            self._pm.check_pending()
            others = [p for p in self._pm.get_plugins() if p is not obj]
            for kind, hook in _HOOKS.items():
                caller = self._pm.subset_hook_caller(hook, remove_plugins=others)
                caller(register=self._registrar(kind, state, pending))
        except Exception:
            self._pm.unregister(obj)
            raise
        return pending

    def _registrar(self, kind: Kind, state: _PluginState, pending: list[Registration]) -> hookspecs.Register:
        def register(name: str, factory: Any, /, **info: Any) -> None:
            if not isinstance(name, str) or not _NAME.match(name):
                raise PluginError(
                    f"invalid {kind} name {name!r}: use lower-case letters, digits and '._-', "
                    "starting with a letter or digit"
                )
            if isinstance(factory, str):
                if not _FACTORY.match(factory):
                    raise PluginError(
                        f"{kind} {name!r}: factory {factory!r} must be 'module:attr' or a callable"
                    )
            elif not callable(factory):
                raise PluginError(f"{kind} {name!r}: factory must be a callable or 'module:attr'")
            if any(r.kind == kind and r.name == name for r in pending):
                raise PluginError(f"{kind} {name!r} is registered twice by the same plugin")
            reg = Registration(
                kind,
                name,
                factory,
                _check_info(kind, name, info),
                state.name,
                state.distribution,
                state.version,
            )
            self._trace("register", kind, name, "->", factory)
            pending.append(reg)

        return register

    def _commit(self, state: _PluginState) -> None:
        for reg in state.registrations:
            entries, clashes = self._entries[reg.kind], self._clashes[reg.kind]
            if reg.name in clashes:
                clashes[reg.name].append(reg)
            elif reg.name in entries:
                clashes[reg.name] = [entries.pop(reg.name), reg]
            else:
                entries[reg.name] = reg
                continue
            message = self._clash_message(reg.kind, reg.name)
            for other in clashes[reg.name]:
                errors = self._plugins[other.plugin].errors
                errors[:] = [e for e in errors if not e.startswith(f"{reg.kind} {reg.name!r} ")]
                errors.append(message)
            if self.strict:
                raise PluginError(message)

    def _clash_message(self, kind: Kind, name: str) -> str:
        regs = self._clashes[kind][name]
        who = " and ".join(r.origin for r in regs)
        return (
            f"{kind} {name!r} is registered by both {who}; uninstall one, or block one with "
            f"QSTORE_DISABLE_PLUGINS={regs[-1].plugin}"
        )

    # -- queries --------------------------------------------------------------------------------

    def plugins(self) -> list[PluginRecord]:
        """Every plugin seen, loaded or not, sorted by name."""
        return [self._plugins[k].record() for k in sorted(self._plugins)]

    def names(self, kind: Kind) -> list[str]:
        """Sorted names usable for ``kind`` (clashing names are left out: they are errors)."""
        return sorted(self._entries[self._kind(kind)])

    def entries(self, kind: Kind) -> list[Registration]:
        """The registrations of ``kind``, sorted by name."""
        entries = self._entries[self._kind(kind)]
        return [entries[n] for n in sorted(entries)]

    def entry(self, kind: Kind, name: str) -> Registration:
        """The registration of ``name``; `BackendNotFoundError` / `PluginError` if unusable."""
        kind = self._kind(kind)
        if name in self._clashes[kind]:
            raise PluginError(self._clash_message(kind, name))
        try:
            return self._entries[kind][name]
        except KeyError:
            raise BackendNotFoundError(self._not_found(kind, name)) from None

    def create(self, kind: Kind, name: str, /, **options: Any) -> Any:
        """Build ``name`` of ``kind`` with ``options``; only now is its module imported."""
        reg = self.entry(kind, name)
        missing = reg.missing_requires()
        if missing:
            raise PluginError(
                f"{kind} {name!r} from {reg.origin} needs {', '.join(missing)}, which "
                "cannot be imported in this environment; install it and try again"
            )
        self._trace("create", kind, name, options)
        obj = reg.load_factory()(**options)
        if kind == "backend" and not isinstance(obj, Backend):
            raise PluginError(
                f"backend {name!r} from {reg.origin} returned {type(obj).__name__}, "
                "not a qstore.core.backend.Backend"
            )
        if kind == "storage" and not is_store(obj):
            raise PluginError(
                f"storage {name!r} from {reg.origin} returned {type(obj).__name__}, which "
                f"implements none of the storage protocols ({', '.join(STORAGE_KINDS)})"
            )
        return obj

    def get_backend(self, name: str, /, **options: Any) -> Backend:
        """The backend registered as ``name``, built with ``options``."""
        backend: Backend = self.create("backend", name, **options)
        return backend

    def get_framework(self, name: str, /, **options: Any) -> Any:
        """The framework adapter registered as ``name``."""
        return self.create("framework", name, **options)

    def get_storage(self, name: str, /, **options: Any) -> Any:
        """The store built by the storage driver ``name``."""
        return self.create("storage", name, **options)

    def _kind(self, kind: str) -> Kind:
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; expected one of {list(KINDS)}")
        return kind  # type: ignore[return-value]

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
        if provider is not None:
            states = [p for p in self._plugins.values() if p.distribution == provider]
            if not states:
                parts.append(f"{name!r} comes with {provider}: pip install {provider}")
            for p in states:
                origin = _origin(p.name, p.distribution, p.version)
                if p.disabled:
                    parts.append(f"{origin} is disabled by QSTORE_DISABLE_PLUGINS.")
                elif p.errors:
                    parts.append(f"{origin} failed to load: {p.errors[0]}")
                else:
                    parts.append(f"{origin} is installed but does not register {name!r}.")
        return " ".join(parts)


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


def get_framework(name: str, /, **options: Any) -> Any:
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
