"""Running the kernel service: bind checks, ``serve`` (blocking) and `BackgroundServer` (a thread).

The service is local-only by default: binding to an address other than loopback needs a token
(argument or ``QSTORE_SERVICE_TOKEN``). Its state lives in one directory: ``jobs/`` (records and
results) and ``kernels/`` (the ``parquet-kernels`` store, built through the plugin registry).
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from qstore.core.plugins import get_storage
from qstore.service.app import build_app
from qstore.service.jobs import JobManager, ServiceError

__all__ = ["BackgroundServer", "check_bind", "serve"]

TOKEN_ENV = "QSTORE_SERVICE_TOKEN"


def check_bind(host: str, token: str | None) -> str | None:
    """The token to require; a non-loopback ``host`` without one is a `ServiceError`."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if host == "localhost":
        return token
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and token is None:
        raise ServiceError(
            f"refusing to bind to {host!r} without a token: the service is local-only by default; "
            f"bind to 127.0.0.1, or pass --token / set {TOKEN_ENV}"
        )
    return token


def _manager(root: str | os.PathLike[str], workers: int) -> JobManager:
    store = get_storage("parquet-kernels", path=Path(root) / "kernels")
    return JobManager(root, store, workers=workers)


def serve(
    root: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    workers: int = 1,
) -> None:
    """Serve ``/graphql`` until interrupted; jobs persist in ``root`` across restarts."""
    token = check_bind(host, token)
    manager = _manager(root, workers)
    try:
        uvicorn.run(
            build_app(manager, token), host=host, port=port, log_level="warning", ws="websockets-sansio"
        )
    finally:
        manager.close()


class BackgroundServer:
    """The service on a thread (tests, notebooks): ``with BackgroundServer(root) as s: s.url``.

    ``port=0`` picks a free port. Leaving the block stops the server and the job workers; unfinished
    jobs resume when a server starts on the same ``root`` again.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        workers: int = 1,
    ) -> None:
        self.host = host
        self.token = check_bind(host, token)
        self.manager = _manager(root, workers)
        config = uvicorn.Config(
            build_app(self.manager, self.token),
            host=host,
            port=port,
            log_level="warning",
            ws="websockets-sansio",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="qstore-service", daemon=True)
        self.port = port

    @property
    def url(self) -> str:
        """``http://host:port/graphql``."""
        return f"http://{self.host}:{self.port}/graphql"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        """Start serving; returns once the socket listens."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.manager.close()
                raise ServiceError(f"the service did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Stop serving and the job workers."""
        self._server.should_exit = True
        self._thread.join()
        self.manager.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
