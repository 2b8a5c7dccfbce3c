"""The hooks a Q-Store plugin implements; every hook specification lives in this one module.

A plugin is a module named by an entry point in the ``qstore`` group::

    # pyproject.toml of a third-party distribution
    [project.entry-points.qstore]
    mysim = "mysim.plugin"

    # mysim/plugin.py — imports only qstore.core; the heavy import happens on first use
    from qstore.core.hookspecs import hookimpl

    @hookimpl
    def register_backends(register):
        register("mysim", "mysim.backend:MySimBackend", requires=("mysim_native",),
                 description="MySim statevector engine", max_qubits=30)

Each hook receives one ``register(name, factory, **info)`` callable:

* ``name``: lower-case letters, digits and ``. _ -``, starting with a letter or digit
  (``"numpy"``, ``"ionq.qpu.aria-1"``). A name registered by two plugins is an error that names both.
* ``factory``: a callable, or a ``"module:attr"`` string imported only when the thing is created.
  ``factory(**options)`` receives the options given to ``get_backend(name, **options)`` (or
  ``get_framework`` / ``get_storage``).
* ``info``: declared facts, read without creating anything:

  - every kind: ``requires`` (top-level import names the factory needs, e.g. ``("torch",)``;
    ``qstore backends`` reports whether they are importable without importing them) and
    ``description``;
  - backends: ``max_qubits``, ``gradient_methods``, ``devices`` — the values its `Capabilities`
    will report, so ``qstore backends`` can show them without building the backend;
  - storage: ``kinds``, a subset of ``("checkpoints", "metrics", "vectors", "cache")``.

The core's own ``numpy`` backend and ``memory`` storage register through these same hooks.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

__all__ = [
    "PROJECT_NAME",
    "Register",
    "hookimpl",
    "hookspec",
    "register_backends",
    "register_frameworks",
    "register_storage",
]

PROJECT_NAME = "qstore"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callable each hook receives: ``register(name, factory, **info)``."""

    def __call__(self, name: str, factory: Any, /, **info: Any) -> None:
        """Register ``factory`` (callable or ``"module:attr"``) under ``name`` with declared info."""
        ...


@hookspec
def register_backends(register: Register) -> None:
    """Register backends: factories returning a `qstore.core.backend.Backend`."""


@hookspec
def register_frameworks(register: Register) -> None:
    """Register framework adapters (``torch``, ``tensorflow``): factories returning the adapter."""


@hookspec
def register_storage(register: Register) -> None:
    """Register storage drivers: factories returning a store of `qstore.core.storage`'s protocols."""
