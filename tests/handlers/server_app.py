"""The ASGI application the request-path tests serve with real servers.

It counts thread hops in the server process (``/hops/``) and records the
lifespan events it handled in ``$DAB_LIFESPAN_LOG``, with whether the
connection pools were closed when shut-down completed.
"""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.handlers.server_settings")

from tests.hops import HopCounter

hop_counter = HopCounter().__enter__()

from django_async_backend.db import async_connections  # noqa: E402
from django_async_backend.handlers.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()


def _record(event: str, **details: Any) -> None:
    with open(os.environ["DAB_LIFESPAN_LOG"], "a") as log:
        log.write(json.dumps({"event": event, **details}) + "\n")


async def application(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "lifespan":
        await django_application(scope, receive, send)
        return

    async def recording_send(message: Any) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            pool = async_connections.pool("default")
            _record("shutdown", pool_closed=pool is None or pool.closed)
        elif message["type"] == "lifespan.startup.complete":
            _record("startup")
        await send(message)

    await django_application(scope, receive, recording_send)
