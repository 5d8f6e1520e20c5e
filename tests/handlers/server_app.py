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


def _sync_replicas() -> None:
    """Embedded-replica mode (``DAB_TEST_LIBSQL_REPLICA``): bring this
    process's replica files up to date before the server serves a request.

    The files are the server's own (``test_servers.Server``: copies of the
    test process's, or new). A new file's first sync replays the primary's
    whole replication log, every frame the suite has written since sqld
    started: ~1 s per 1,500 frames, well beyond a request's 5 s late in a
    run. Done here, on import, any such wait is the server's start-up, which
    the test waits for; the requests' connections then share the synced file
    (``replica/driver.py``'s ``ReplicaFile``) and sync only what is new.
    """
    from django.db import connections

    for connection in connections.all(initialized_only=False):
        if hasattr(connection, "sync"):
            connection.sync()
            connection.close()  # libsql's connection to the file stays open


if os.environ.get("DAB_TEST_LIBSQL_REPLICA"):
    # On a thread: servers import the application inside their event loop,
    # where Django refuses synchronous database calls.
    import threading

    _syncing = threading.Thread(target=_sync_replicas)
    _syncing.start()
    _syncing.join()


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
