"""The ASGI application: Django's, plus the lifespan protocol.

Django's ASGI handler serves HTTP only. Servers such as uvicorn also send
``lifespan`` events; on shutdown this closes the event loop's connection
pools (``async_connections.close_pools()``), so pooled PostgreSQL
connections end cleanly instead of being dropped with the loop.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library.settings")

from django.core.asgi import get_asgi_application

from django_async_backend.db import async_connections

django_application = get_asgi_application()

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await async_connections.close_pools()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    else:
        await django_application(scope, receive, send)
