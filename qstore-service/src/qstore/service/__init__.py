"""Q-Store kernel service: a GraphQL API (strawberry on uvicorn) over kernel jobs and the kernel store.

    qstore serve --root ~/.qstore/service            # http://127.0.0.1:8765/graphql

Attributes load lazily, so the plugin and the ``serve`` command import neither strawberry nor
uvicorn until the server starts. See ``docs/service.md`` for the operations.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qstore.service.jobs import JobManager, JobRecord, KernelJobSpec, ServiceError
    from qstore.service.server import BackgroundServer, check_bind, serve

__all__ = [
    "BackgroundServer",
    "JobManager",
    "JobRecord",
    "KernelJobSpec",
    "ServiceError",
    "check_bind",
    "serve",
]

_MODULES = {
    "BackgroundServer": "qstore.service.server",
    "JobManager": "qstore.service.jobs",
    "JobRecord": "qstore.service.jobs",
    "KernelJobSpec": "qstore.service.jobs",
    "ServiceError": "qstore.service.jobs",
    "check_bind": "qstore.service.server",
    "serve": "qstore.service.server",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'qstore.service' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
