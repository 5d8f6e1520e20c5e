"""Each contender: how one request runs, as its deployment would run it.

* ``ours``: an ASGI request is a task; our ENGINE gives the task a pooled
  connection and takes it back when the task ends: nothing else to do.
* ``prepared``: as ``ours``, the read workloads as prepared querysets.
* ``stock_async``: as Django's ASGI handler does, each request runs inside its
  own ``asgiref.sync.ThreadSensitiveContext`` and ends with
  ``close_old_connections`` through ``sync_to_async`` (``request_finished``),
  which gives the connection back to Django's pool.
* ``stock_sync``: a thread per concurrent request (WSGI-like); each request
  ends with ``close_old_connections``.
* ``upstream``: a task per request, ending with the package's own
  ``close_old_async_connections`` (its ``request_finished`` receiver).
* ``ceiling``: bare psycopg on an ``AsyncConnectionPool`` of the same size.
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import workloads

CONTENDERS = ("ours", "prepared", "stock_async", "stock_sync", "ceiling", "upstream")
ASYNC_CONTENDERS = ("ours", "prepared", "stock_async", "ceiling", "upstream")


@dataclass
class Contender:
    """A contender ready to serve requests of one workload."""

    name: str
    threaded: bool
    requests: dict[str, Callable[[random.Random], Any]]
    close: Callable[[], Awaitable[None]] | None = None


def setup_django(name: str) -> None:
    os.environ["BENCH_CONTENDER"] = name
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    if name == "upstream":
        os.environ["BENCH_UPSTREAM"] = "1"
    import django

    django.setup()


def _ours() -> Contender:
    from django_async_backend.db import async_connections

    def as_request(work: workloads.AsyncWork) -> Callable[[random.Random], Any]:
        async def request(rng: random.Random) -> Any:
            return await work(rng)

        return request

    work = workloads.orm_async(native_atomic=True)
    return Contender(
        "ours",
        threaded=False,
        requests={name: as_request(fn) for name, fn in work.items()},
        close=async_connections.close_pools,
    )


def _prepared() -> Contender:
    from django_async_backend.db import async_connections

    return Contender(
        "prepared",
        threaded=False,
        requests=workloads.prepared_async(),
        close=async_connections.close_pools,
    )


def _stock_async() -> Contender:
    from asgiref.sync import ThreadSensitiveContext, sync_to_async
    from django.db import close_old_connections

    finish = sync_to_async(close_old_connections)

    def as_request(work: workloads.AsyncWork) -> Callable[[random.Random], Any]:
        async def request(rng: random.Random) -> Any:
            async with ThreadSensitiveContext():
                try:
                    return await work(rng)
                finally:
                    await finish()

        return request

    work = workloads.orm_async(native_atomic=False)
    return Contender(
        "stock_async",
        threaded=False,
        requests={name: as_request(fn) for name, fn in work.items()},
    )


def _stock_sync() -> Contender:
    from django.db import close_old_connections

    def as_request(work: workloads.SyncWork) -> Callable[[random.Random], Any]:
        def request(rng: random.Random) -> Any:
            try:
                return work(rng)
            finally:
                close_old_connections()

        return request

    return Contender(
        "stock_sync",
        threaded=True,
        requests={name: as_request(fn) for name, fn in workloads.orm_sync().items()},
    )


def _upstream() -> Contender:
    from django_async_backend.db import close_old_async_connections

    def as_request(work: workloads.AsyncWork) -> Callable[[random.Random], Any]:
        async def request(rng: random.Random) -> Any:
            try:
                return await work(rng)
            finally:
                await close_old_async_connections()

        return request

    return Contender(
        "upstream",
        threaded=False,
        requests={name: as_request(fn) for name, fn in workloads.upstream().items()},
    )


def _ceiling() -> Contender:
    from psycopg_pool import AsyncConnectionPool

    from .settings import DATABASES, POOL

    db = DATABASES["default"]
    conninfo = (
        f"host={db['HOST']} port={db['PORT']} dbname={db['NAME']} user={db['USER']}"
    )
    if db["PASSWORD"]:
        conninfo += f" password={db['PASSWORD']}"
    pool = AsyncConnectionPool(
        conninfo, open=False, kwargs={"autocommit": True}, **POOL
    )
    opened = False

    def as_request(work: workloads.AsyncWork) -> Callable[[random.Random], Any]:
        async def request(rng: random.Random) -> Any:
            nonlocal opened
            if not opened:
                opened = True
                await pool.open()
            return await work(rng)

        return request

    return Contender(
        "ceiling",
        threaded=False,
        requests={name: as_request(fn) for name, fn in workloads.ceiling(pool).items()},
        close=pool.close,
    )


def build(name: str) -> Contender:
    """Configure Django for ``name`` (once per process) and return it."""
    setup_django(name)
    return {
        "ours": _ours,
        "prepared": _prepared,
        "stock_async": _stock_async,
        "stock_sync": _stock_sync,
        "upstream": _upstream,
        "ceiling": _ceiling,
    }[name]()
