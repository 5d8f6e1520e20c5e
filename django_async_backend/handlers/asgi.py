"""Django's ASGI application with the lifespan protocol.

Django's ``ASGIHandler`` serves HTTP only; servers (uvicorn, granian,
hypercorn) also send ``lifespan`` events when a worker starts and stops.
Connection pools belong to the worker's event loop, and at shut-down they
should be closed while the loop still runs, so that the server sees its
connections end cleanly instead of dropped with the process. This
application answers the lifespan protocol and, on shut-down, closes the
loop's kept connections and pools (``async_connections.close_pools()``).
Everything else goes to Django's handler, unchanged.

In ``asgi.py``::

    from django_async_backend.handlers.asgi import get_asgi_application

    application = get_asgi_application()
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["LifespanApplication", "get_asgi_application"]

logger = logging.getLogger("django_async_backend")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LifespanApplication:
    """An ASGI application: lifespan here, everything else to ``app``."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        else:
            await self.app(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        from ..db import async_connections

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await async_connections.close_pools()
                except Exception as exc:
                    logger.exception("closing the connection pools failed")
                    await send(
                        {"type": "lifespan.shutdown.failed", "message": repr(exc)}
                    )
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def get_asgi_application() -> LifespanApplication:
    """Django's ``get_asgi_application()``, answering the lifespan protocol."""
    from django.core.asgi import get_asgi_application as django_application

    return LifespanApplication(django_application())
