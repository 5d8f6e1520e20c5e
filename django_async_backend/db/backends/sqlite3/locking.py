"""One writer at a time per database file, queued on the event loop.

SQLite allows a single writer per database. A second connection that tries to
write waits in SQLite's busy handler: it sleeps and retries, in increasing
steps, until ``timeout`` expires, then fails with "database is locked". That
wait happens inside the C library, so it cannot be cancelled, it burns a
thread, and under contention it wakes up late (the steps grow to 100 ms).

Inside one process the async connections can do better: a writer first takes
an :class:`asyncio.Lock` for the database, on the event loop, and only then
asks SQLite for the write lock, which is then free (other processes and
sync-mode connections aside, for which the busy handler still applies). So
writers queue in order, wake up as soon as the previous one commits, and a
cancelled waiter simply leaves the queue. The wait is bounded by the same
``timeout`` SQLite would use and fails with the same error.

The lock covers a write *transaction*: from ``BEGIN IMMEDIATE`` (the
ENGINE's default ``transaction_mode``) or the first write of a deferred
transaction, to ``COMMIT``/``ROLLBACK``; and a single write statement in
autocommit mode. Reads never take it: in WAL mode they run beside the
writer.
"""

from __future__ import annotations

import asyncio
import os
import re
import weakref
from urllib.parse import unquote

__all__ = ["database_key", "may_write", "write_lock"]

_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
] = weakref.WeakKeyDictionary()

_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z]+")

# Statements that never need the write lock. Anything else (INSERT, UPDATE,
# DELETE, REPLACE, DDL, WITH, VACUUM, an unknown word) is treated as a write:
# taking the lock when not needed costs a little concurrency, missing it
# costs a "database is locked" error.
_READS = frozenset(
    {
        "SELECT",
        "VALUES",
        "EXPLAIN",
        "PRAGMA",  # the busy handler covers the few that write
        "SAVEPOINT",
        "RELEASE",
        "ROLLBACK",
        "COMMIT",
        "END",
    }
)
_BEGIN = re.compile(r"BEGIN\s+(IMMEDIATE|EXCLUSIVE)\b", re.IGNORECASE)


def may_write(sql: str) -> bool:
    """Whether ``sql`` may write (or start a write transaction)."""
    start = _LEADING.match(sql)
    rest = sql[start.end() :] if start else sql
    word = _WORD.match(rest)
    if word is None:
        return True
    keyword = word.group().upper()
    if keyword == "BEGIN":
        return _BEGIN.match(rest) is not None
    return keyword not in _READS


def database_key(database: str | os.PathLike[str]) -> str:
    """What identifies a database file across connection strings."""
    path = database = os.fspath(database)
    if path.startswith("file:"):
        path = unquote(path[len("file:") :].split("?", 1)[0])
        if "vfs=memdb" in database:
            return f"memdb:{path}"
    return os.path.realpath(path)


def write_lock(key: str) -> asyncio.Lock:
    """The running loop's write lock for the database ``key``."""
    loop = asyncio.get_running_loop()
    locks = _locks.get(loop)
    if locks is None:
        locks = _locks[loop] = {}
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock
