"""The ASGI application: strawberry's GraphQL app (HTTP and graphql-transport-ws) behind a token check.

With a token, every HTTP request and WebSocket handshake must carry ``Authorization: Bearer
<token>``; others get 401 (HTTP) or a refused handshake. The token is compared in constant time and
never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from strawberry.asgi import GraphQL

from qstore.service.jobs import JobManager
from qstore.service.schema import build_schema

__all__ = ["KernelService", "build_app"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class KernelService(GraphQL):  # type: ignore[misc]
    """strawberry's ASGI GraphQL app with the job manager in every request's context."""

    def __init__(self, manager: JobManager) -> None:
        super().__init__(build_schema(), graphql_ide=None)
        self.manager = manager

    async def get_context(self, request: Any, response: Any = None) -> dict[str, Any]:
        """The request, response and the `JobManager` for resolvers."""
        return {"request": request, "response": response, "manager": self.manager}


def _authorised(scope: Scope, token: str) -> bool:
    headers = dict(scope.get("headers") or [])
    given = headers.get(b"authorization", b"").decode("latin-1")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def build_app(
    manager: JobManager, token: str | None = None
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app serving ``/graphql``; with ``token``, unauthenticated requests are refused."""
    service = KernelService(manager)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if token is None or scope["type"] == "lifespan" or _authorised(scope, token):
            await service(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
        else:
            body = b'{"errors": [{"message": "missing or wrong bearer token"}]}'
            headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    return app
