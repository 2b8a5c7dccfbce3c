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
                 description="MySim statevector engine")

Each hook receives one ``register(name, factory, *, requires=(), description="")`` callable:

* ``name``: lower-case letters, digits and ``. _ -``, starting with a letter or digit
  (``"numpy"``, ``"ionq.qpu.aria-1"``). A built backend's ``name`` must be this name.
* ``factory``: a callable, or a ``"module:attr"`` string imported only when the thing is created.
  ``factory(**options)`` receives the options given to ``get_backend(name, **options)`` (or
  ``get_framework`` / ``get_storage``).
* ``requires``: top-level import names the factory needs (``("torch",)``); checked with
  ``find_spec``, never imported, so listing stays fast.
* ``description``: one line for ``qstore plugins list``.
* storage only: ``kinds``, a subset of ``("checkpoints", "metrics", "vectors", "cache")``.

Nothing else is declared: qubit limits, devices, precision and gradient methods come from the built
backend's `Capabilities`, the one source of truth (``qstore backends`` builds backends to show them).
The core's own ``numpy`` backend and ``memory`` storage register through these same hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import pluggy

__all__ = [
    "PROJECT_NAME",
    "Command",
    "FrameworkAdapter",
    "Register",
    "hookimpl",
    "hookspec",
    "qstore_choose_backend",
    "register_backends",
    "register_commands",
    "register_frameworks",
    "register_storage",
]

PROJECT_NAME = "qstore"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callable each hook receives."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        /,
        *,
        requires: Sequence[str] = (),
        description: str = "",
        kinds: Sequence[str] = (),
    ) -> None:
        """Register ``factory`` (callable or ``"module:attr"``) under ``name``."""
        ...


@runtime_checkable
class FrameworkAdapter(Protocol):
    """What a framework factory returns: the framework's ``QuantumLayer`` class.

    Every adapter's layer takes the same arguments (qubits, depth, entanglement, encoding, bases,
    backend), so code holding an adapter can build a layer without knowing the framework.
    """

    QuantumLayer: Callable[..., Any]


@runtime_checkable
class Command(Protocol):
    """What a command factory returns: a ``qstore <name>`` subcommand (``qstore serve``)."""

    def configure(self, parser: Any) -> None:
        """Add the command's arguments to its `argparse.ArgumentParser`."""
        ...

    def run(self, args: Any) -> int:
        """Run with the parsed arguments; returns the exit status."""
        ...


@hookspec
def register_backends(register: Register) -> None:
    """Register backends: factories returning a `qstore.core.backend.Backend`."""


@hookspec
def register_frameworks(register: Register) -> None:
    """Register framework adapters (``torch``, ``tensorflow``): factories returning a `FrameworkAdapter`."""


@hookspec
def register_storage(register: Register) -> None:
    """Register storage drivers: factories returning a store of `qstore.core.storage`'s protocols."""


@hookspec(firstresult=True)
def qstore_choose_backend(workload: Any, policy: Any, decision: Any) -> str | None:
    """Override the router: return the name of a usable backend from ``decision.candidates``
    (a `qstore.core.routing.RoutingDecision` for ``workload`` under ``policy``), or None to keep
    the router's choice. The first plugin to return a name wins."""


@hookspec
def register_commands(register: Register) -> None:
    """Register ``qstore`` subcommands: factories returning a `Command` (imported when it runs)."""
