"""qstore-service's plugin: the ``qstore serve`` command (imported only when the CLI builds it)."""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_commands(register: Register) -> None:
    """Register ``serve``: the GraphQL kernel service on uvicorn."""
    register(
        "serve",
        "qstore.service.command:ServeCommand",
        requires=("strawberry", "uvicorn"),
        description="serve the GraphQL kernel-job API (local-only unless given a token)",
    )
