"""``NAME = ":memory:"``: one in-memory database per alias, shared in-process.

A plain ``:memory:`` connection has a private database that vanishes when it
closes. Stock Django gets away with that because sync code uses one
connection per thread. Async code uses a connection per task, so each
request would see its own empty database. This ENGINE therefore gives an
in-memory alias one database for the whole process, which every connection
of that alias (sync and async, any task, any thread) opens.

How: SQLite's ``memdb`` VFS, with a name starting with ``/``
(``file:/name?vfs=memdb``), is shared by all connections of the process and
uses SQLite's ordinary locking, so a connection that meets a writer waits
(the busy timeout) instead of failing. Django's own test databases use the
other mechanism, shared cache (``mode=memory&cache=shared``), whose table
locks fail at once with "database table is locked" when a reader meets a
writer: fine for one connection per thread, not for concurrent tasks.

The price of memdb: there is no WAL for in-memory databases, so a write
transaction holds readers off until it commits (they wait, up to the busy
timeout). Use a database file for concurrent readers and writers.

A memdb database is freed when its last connection closes; an *anchor*
connection per database, held by the process, keeps it alive between
requests (connections are closed when their task ends).
"""

from __future__ import annotations

import sqlite3
import threading
from urllib.parse import quote

__all__ = ["anchor", "is_shared_memory", "release", "shared_memory_name"]

_anchors: dict[str, sqlite3.Connection] = {}
_anchors_lock = threading.Lock()


def shared_memory_name(label: str) -> str:
    """The connection string of the process-wide in-memory database ``label``."""
    return f"file:/django_async_backend/{quote(label, safe='')}?vfs=memdb"


def is_shared_memory(database: object) -> bool:
    """Whether ``database`` names a shared in-memory (memdb) database."""
    return (
        isinstance(database, str)
        and database.startswith("file:/")
        and "vfs=memdb" in database
    )


def anchor(database: str) -> None:
    """Keep the in-memory database ``database`` alive for the process."""
    if database in _anchors:
        return
    with _anchors_lock:
        if database not in _anchors:
            _anchors[database] = sqlite3.connect(
                database, uri=True, check_same_thread=False
            )


def release(database: str) -> None:
    """Let the in-memory database go once its other connections close."""
    with _anchors_lock:
        connection = _anchors.pop(database, None)
    if connection is not None:
        connection.close()
