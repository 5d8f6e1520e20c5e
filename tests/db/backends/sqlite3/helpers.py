"""Helpers for the SQLite ENGINE's own tests.

Most tests here open *standalone* connections: a SQLite ENGINE wrapper in
async mode on a file (or ``:memory:``) of the test's own, with whatever
OPTIONS it needs. They don't depend on the suite's configured database, so
they run on the PostgreSQL leg too. Tests that exercise the ORM on the
suite's database are marked ``sqlite_suite``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from django_async_backend.db.backends.base.wrapper import AsyncDatabaseWrapper
from django_async_backend.db.backends.sqlite3.base import DatabaseWrapper

ENGINE = "django_async_backend.db.backends.sqlite3"


def suite_is_sqlite() -> bool:
    return connections.settings[DEFAULT_DB_ALIAS]["ENGINE"] == ENGINE


sqlite_suite = pytest.mark.skipif(
    not suite_is_sqlite(),
    reason="runs the ORM on the suite's database, which is not SQLite here "
    "(run with DATABASE_URL=sqlite:///path/to/db.sqlite3)",
)


def sqlite_settings(name: Any, **options: Any) -> dict[str, Any]:
    """A complete ``DATABASES`` entry for the SQLite ENGINE."""
    settings = {"ENGINE": ENGINE, "NAME": name, "OPTIONS": options}
    return connections.configure_settings({DEFAULT_DB_ALIAS: settings})[
        DEFAULT_DB_ALIAS
    ]


@asynccontextmanager
async def standalone(
    name: Any, alias: str = "standalone", *, conn_max_age: int = 0, **options: Any
) -> AsyncIterator[AsyncDatabaseWrapper]:
    """An async connection to ``name``, released at the end of the block."""
    settings = sqlite_settings(name, **options)
    settings["CONN_MAX_AGE"] = conn_max_age
    face = DatabaseWrapper(settings, alias)._enable_async_mode()
    try:
        yield face
    finally:
        await face._release(final=True)


async def query(face: AsyncDatabaseWrapper, sql: str, params: Any = None) -> Any:
    """Run ``sql``; return all its rows (or ``None`` for a statement)."""
    async with face.cursor() as cursor:
        await cursor.execute(sql, params)
        if cursor.description is None:
            return None
        return await cursor.fetchall()


def worker_threads() -> list[threading.Thread]:
    """The SQLite connection threads alive now."""
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("django_async_backend.sqlite3:") and t.is_alive()
    ]


async def eventually(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll ``predicate()`` while letting the loop run (clean-up is async)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())


@contextmanager
def registered(name: Any, alias: str, *, conn_max_age: int = 0, **options: Any):
    """``alias`` in ``connections.settings`` for a block: ``async_atomic``,
    ``async_connections[alias]`` and the ORM's ``using()`` then reach it."""
    settings = sqlite_settings(name, **options)
    settings["CONN_MAX_AGE"] = conn_max_age
    connections.settings[alias] = settings
    try:
        yield settings
    finally:
        del connections.settings[alias]


def open_files(database: Any) -> list[str]:
    """The database's files (main, -wal, -shm) this process has open.

    A connection ``sqlite3`` could not really close (a "zombie", kept alive by
    a statement nobody finalized) keeps them open after its ``close()``.
    """
    base = os.path.realpath(database)
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
        if target in (base, f"{base}-wal", f"{base}-shm", f"{base}-journal"):
            found.append(target)
    return found
