"""A ``libsql`` embedded replica behind ``sqlite3``'s connection API.

The SQLite ENGINE opens its connections with ``sqlite3.connect(**params)``,
through a ``factory`` (``sqlite3/driver.py``'s ``opener`` in async mode, which
opens on a worker thread), and then configures them with Django's own code.
:func:`connection_factory` is such a factory: ``sqlite3.connect`` returns the
object its ``__new__`` returns, here a :class:`ReplicaConnection`. So the
SQLite ENGINE's wrapper, its worker thread, its write queue and Django's
SQLite backend run unchanged on top; only the driver is swapped.

:class:`ReplicaConnection` speaks the part of ``sqlite3.Connection`` those
layers use, over ``libsql.Connection`` (0.1.8):

* statements and parameters are converted (``params.py``: Django's ``%s``,
  integers beyond 32 bits), errors translated (``errors.py``);
* ``isolation_level`` is a flag: ``libsql`` fixes it at connect time, so
  connections open in autocommit (``isolation_level=None``) and the legacy
  implicit ``BEGIN`` before a data change is done here when Django turns
  autocommit off outside an atomic block;
* SQL functions cannot be registered (``libsql`` has no
  ``create_function``): registering is a no-op, and the ENGINE's operations
  (``libsql/operations.py``) write Django's functions as native SQL, which
  the primary, where writes and transactions run, needs anyway;
* ``PRAGMA legacy_alter_table = ...`` and ``PRAGMA journal_mode = ...``
  (sent by Django and by the SQLite ENGINE on every new connection) are
  refused by ``libsql``; they are skipped (the replica file is WAL, kept by
  ``libsql``; SQLite's default ``legacy_alter_table`` is OFF);
* ``PRAGMA foreign_keys = ON/OFF`` is recorded and ``PRAGMA foreign_keys``
  answers the recorded state: ``libsql`` keeps no such state for the
  connection (it answers 1 whatever was set), and Django's schema editor
  needs to see OFF to run at all;
* the primary unreachable when a connection opens: the local file is opened
  without sync (``offline``): reads work, statements that may write raise
  ``OperationalError``; :meth:`ReplicaConnection.sync` reconnects.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import libsql
from django.db.backends.sqlite3.base import SQLiteCursorWrapper

from ...sqlite3.locking import may_write
from ..settings import LibSQLSettings
from .errors import translate
from .params import prepare, prepare_many

__all__ = ["ReplicaConnection", "ReplicaCursor", "connection_factory", "forget_file"]

_SKIPPED = re.compile(
    r"\s*PRAGMA\s+(?:main\.)?(?:legacy_alter_table|journal_mode)\s*=", re.IGNORECASE
)
_FOREIGN_KEYS_SET = re.compile(
    r"\s*PRAGMA\s+(?:main\.)?foreign_keys\s*=\s*(\w+)\s*;?\s*$", re.IGNORECASE
)
_FOREIGN_KEYS_GET = re.compile(
    r"\s*PRAGMA\s+(?:main\.)?foreign_keys\s*;?\s*$", re.IGNORECASE
)
_DATA_CHANGE = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_SAVEPOINT = re.compile(r"\s*SAVEPOINT\s+(.+?)\s*;?\s*$", re.IGNORECASE)
_RELEASE = re.compile(r"\s*RELEASE\s+(?:SAVEPOINT\s+)?(.+?)\s*;?\s*$", re.IGNORECASE)
_ON = frozenset({"1", "ON", "TRUE", "YES"})

SYNC_RETRY_SECONDS = 5.0
"""After a failed sync, how long stale connections read without trying again."""

_LIMITS = {
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 32766,
    sqlite3.SQLITE_LIMIT_COLUMN: 2000,
}


class ReplicaFile:
    """The one ``libsql`` connection of this process to a replica file.

    ``libsql`` 0.1.8 makes every ``connect()`` a database of its own, with
    its own replicator: two of them on one file inject frames into it
    independently and corrupt it ("database disk image is malformed"), and
    a closed one is never released on the primary (sqld refuses writes after
    128 of them). So every :class:`ReplicaConnection` of the process to a
    file shares one ``libsql`` connection, taking turns: :attr:`lock`
    (:class:`Turns`) is held for each call, and from ``BEGIN`` to the end
    of the transaction, so a transaction has the connection to itself. A
    connection that waits longer than ``OPTIONS["timeout"]`` for its turn
    gets ``OperationalError`` ("database is locked"), as with SQLite's own
    busy timeout.
    """

    def __init__(self, raw: libsql.Connection) -> None:
        self.raw = raw
        self.lock = Turns()


class Turns:
    """A lock owned by a connection, not a thread: re-entrant for its owner
    from any thread (a transaction lent to async code runs its statements
    on the event loop's thread)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._owner: object | None = None
        self._depth = 0

    def acquire(self, owner: object, timeout: float) -> bool:
        with self._condition:
            if self._owner is not owner:
                if not self._condition.wait_for(lambda: self._owner is None, timeout):
                    return False
                self._owner = owner
            self._depth += 1
            return True

    def release(self, owner: object) -> None:
        with self._condition:
            assert self._owner is owner
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._condition.notify_all()


_files: dict[str, ReplicaFile] = {}
_files_lock = threading.Lock()


def forget_file(path: str) -> None:
    """The replica at ``path`` was removed (a test database made afresh):
    the next connection opens it anew."""
    with _files_lock:
        _files.pop(os.path.realpath(path), None)


def _open(path: str, settings: LibSQLSettings) -> libsql.Connection:
    kwargs: dict[str, Any] = {
        "isolation_level": None,
        "sync_url": settings.sync_url,
        "auth_token": settings.auth_token or "",
    }
    if settings.sync_interval:
        kwargs["sync_interval"] = settings.sync_interval
    if settings.encryption_key:
        kwargs["encryption_key"] = settings.encryption_key
    return libsql.connect(path, **kwargs)


class ReplicaConnection:
    """``sqlite3.Connection``'s API over a ``libsql`` embedded replica."""

    def __init__(
        self, raw: libsql.Connection, path: str, settings: LibSQLSettings, *,
        offline: bool = False, shared: ReplicaFile | None = None,
    ) -> None:  # fmt: skip
        self.raw = raw
        self.shared = shared
        self._holding = False  # this connection's transaction holds the turn
        self.path = path
        self.settings = settings
        self.offline = offline
        self.offline_reason = ""
        # Set when a kept connection starts serving a new task or request:
        # sync before its next statement outside a transaction.
        self.stale = False
        # The savepoint that began the transaction (SQLite's SAVEPOINT outside
        # one), whose RELEASE commits it.
        self.outer_savepoint: str | None = None
        self._sync_failed_at = -SYNC_RETRY_SECONDS
        self._isolation_level: str | None = None
        self.foreign_keys = False
        self.row_factory: Any = None
        self.text_factory: Any = str

    def __repr__(self) -> str:
        state = " offline" if self.offline else ""
        return f"<ReplicaConnection {self.path!r} <- {self.settings.sync_url}{state}>"

    @classmethod
    def open(cls, path: str, settings: LibSQLSettings) -> ReplicaConnection:
        """Open the replica: the process's shared connection to the file
        (synced before its first statement), or a new one (synced now)."""
        key = os.path.realpath(path)
        with _files_lock:
            shared = _files.get(key)
            if shared is None:
                try:
                    shared = _files[key] = ReplicaFile(_open(path, settings))
                    fresh = True
                except ValueError as error:
                    if not os.path.exists(path):
                        raise translate(error) from None
                    offline_reason = str(error)
                    shared = None
            else:
                fresh = False
        if shared is None:
            # The primary is unreachable: serve the local file, read-only.
            connection = cls._offline(path, settings)
            connection.offline_reason = offline_reason
            return connection
        connection = cls(shared.raw, path, settings, shared=shared)
        if fresh:
            connection.sync()  # libsql's connect() does not
        else:
            connection.stale = True
        return connection

    @classmethod
    def _offline(cls, path: str, settings: LibSQLSettings) -> ReplicaConnection:
        kwargs: dict[str, Any] = {"isolation_level": None}
        if settings.encryption_key:
            kwargs["encryption_key"] = settings.encryption_key
        try:
            raw = libsql.connect(path, **kwargs)
        except ValueError as error:
            raise translate(error) from None
        return cls(raw, path, settings, offline=True)

    # -- the replica ------------------------------------------------------------

    def sync(self) -> None:
        """Bring the local file up to the primary's latest frame.

        Offline, first reconnect to the primary (``OperationalError`` if it is
        still unreachable).
        """
        if self.offline:
            if self.in_transaction:
                raise sqlite3.OperationalError(
                    "Cannot sync an offline replica inside a transaction."
                )
            online = ReplicaConnection.open(self.path, self.settings)
            if online.offline:
                raise sqlite3.OperationalError(
                    f"The libSQL primary {self.settings.sync_url} is still "
                    f"unreachable ({online.offline_reason})."
                )
            self.raw.close()
            self.raw, self.shared = online.raw, online.shared
            self.offline, self.offline_reason = False, ""
        with self.turn():
            try:
                self.raw.sync()
            except ValueError as error:
                raise translate(error) from None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the shared connection for a call (see :class:`ReplicaFile`);
        keep holding it while the call leaves a transaction open."""
        shared = self.shared
        if shared is None:
            yield
            return
        if not shared.lock.acquire(self, self.settings.timeout or 5.0):
            raise sqlite3.OperationalError(
                f"database is locked: another connection's transaction on the "
                f"replica {self.path!r} kept it for longer than the timeout "
                f"({self.settings.timeout:g} s, OPTIONS['timeout'])."
            )
        try:
            yield
        finally:
            open_now = bool(self.raw.in_transaction)
            if open_now and not self._holding:
                shared.lock.acquire(self, 0)  # re-entrant: held until the end
                self._holding = True
            elif not open_now and self._holding:
                shared.lock.release(self)
                self._holding = False
            shared.lock.release(self)

    def refresh_if_stale(self) -> None:
        """Sync a kept connection for its new task or request.

        A new connection syncs as it opens; a kept one syncs here, before the
        first statement of its new owner, so every task or request starts on
        the primary's latest state (about 1 ms). With the primary down, the
        local state serves, and no sync is tried again for
        ``SYNC_RETRY_SECONDS`` (a failing sync waits ~3 s for its handshake).
        """
        if not self.stale or self.in_transaction:
            return
        self.stale = False
        if time.monotonic() - self._sync_failed_at < SYNC_RETRY_SECONDS:
            return
        try:
            self.sync()
        except sqlite3.OperationalError:
            self._sync_failed_at = time.monotonic()

    def check_writable(self, sql: str) -> None:
        if self.offline and may_write(sql):
            raise sqlite3.OperationalError(
                f"The libSQL primary {self.settings.sync_url} was unreachable when "
                f"this replica connection opened ({self.offline_reason}); the "
                f"local replica serves reads only. Writes and sync() work again "
                f"once the primary is back (call sync() or reconnect)."
            )

    # -- sqlite3.Connection ------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        # The shared connection's state is this connection's only while it
        # holds the turn for its transaction.
        if self.shared is None:
            return bool(self.raw.in_transaction)
        return self._holding

    @property
    def isolation_level(self) -> str | None:
        return self._isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        if value is None and self.in_transaction:
            self.commit()  # as sqlite3 does when autocommit is switched on
        self._isolation_level = value

    def cursor(self, factory: Any = None) -> ReplicaCursor:
        django_style = isinstance(factory, type) and issubclass(
            factory, SQLiteCursorWrapper
        )
        return ReplicaCursor(self, django_style)

    def execute(self, sql: str, params: Any = None) -> ReplicaCursor:
        return self.cursor().execute(sql, params)

    def executemany(self, sql: str, params: Any) -> ReplicaCursor:
        return self.cursor().executemany(sql, params)

    def executescript(self, script: str) -> None:
        self.check_writable(script)
        with self.turn():
            try:
                self.raw.executescript(script)
            except ValueError as error:
                raise translate(error) from None

    def commit(self) -> None:
        self.outer_savepoint = None
        if not self.in_transaction:
            return
        with self.turn():
            try:
                self.raw.commit()
            except ValueError as error:
                raise translate(error) from None

    def rollback(self) -> None:
        self.outer_savepoint = None
        if not self.in_transaction:
            return
        with self.turn():
            try:
                self.raw.rollback()
            except ValueError as error:
                raise translate(error) from None

    def close(self) -> None:
        """Roll back; the shared connection itself stays open for the
        process's other connections (see :class:`ReplicaFile`)."""
        self.rollback()
        if self.shared is None:
            try:
                self.raw.close()
            except ValueError as error:
                raise translate(error) from None

    def interrupt(self) -> None:
        """``libsql`` cannot interrupt a statement: it runs to its end."""

    def getlimit(self, category: int) -> int:
        return _LIMITS.get(category, 2**31 - 1)

    def setlimit(self, category: int, limit: int) -> int:
        return self.getlimit(category)

    # SQL functions, collations, hooks: libsql has no such API. Django's SQL
    # functions are native SQL in this ENGINE's operations.
    def create_function(self, *args: Any, **kwargs: Any) -> None:
        pass

    def create_aggregate(self, *args: Any, **kwargs: Any) -> None:
        pass

    def create_window_function(self, *args: Any, **kwargs: Any) -> None:
        pass

    def create_collation(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_trace_callback(self, *args: Any, **kwargs: Any) -> None:
        pass

    # -- statements (for ReplicaCursor) ------------------------------------------

    def _begin_implicitly(self, sql: str) -> None:
        """sqlite3's legacy transaction control, with autocommit off; and
        SQLite's ``SAVEPOINT`` outside a transaction, which begins one (the
        replica refuses it as a first statement: "invalid state")."""
        savepoint = _SAVEPOINT.match(sql)
        if savepoint is not None and not self.in_transaction:
            with self.turn():
                try:
                    self.raw.execute("BEGIN DEFERRED")
                except ValueError as error:
                    raise translate(error) from None
            self.outer_savepoint = savepoint.group(1)
            return
        if (
            self._isolation_level is not None
            and not self.in_transaction
            and _DATA_CHANGE.match(sql)
        ):
            mode = self._isolation_level or "DEFERRED"
            with self.turn():
                try:
                    self.raw.execute(f"BEGIN {mode}")
                except ValueError as error:
                    raise translate(error) from None


class ReplicaCursor:
    """``sqlite3.Cursor``'s API over ``libsql``'s cursor."""

    def __init__(self, connection: ReplicaConnection, django_style: bool) -> None:
        self.connection = connection
        self.django_style = django_style
        self.arraysize = 1
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._raw: Any = None
        self._rows: list[Any] | None = None  # rows made up here (PRAGMAs)

    def _reset(self) -> None:
        self.description, self.rowcount, self._rows = None, -1, None

    def _local(self, sql: str) -> bool:
        """Answer the statements ``libsql`` refuses or gets wrong; True if so."""
        if _SKIPPED.match(sql):
            self._reset()
            self._raw, self._rows = None, []
            return True
        match = _FOREIGN_KEYS_SET.match(sql)
        if match:
            # Recorded only: libsql forwards the assignment to the primary
            # (so it fails while the primary is down) and keeps no state.
            self._reset()
            self._raw, self._rows = None, []
            if not self.connection.in_transaction:
                self.connection.foreign_keys = match.group(1).upper() in _ON
            return True
        if _FOREIGN_KEYS_GET.match(sql):
            self._reset()
            self.description = (("foreign_keys",) + (None,) * 6,)
            self._raw, self._rows = None, [(int(self.connection.foreign_keys),)]
            return True
        return False

    def _run(self, sql: str, params: Any, many: bool = False) -> None:
        connection = self.connection
        with connection.turn():
            if self._raw is None:
                self._raw = connection.raw.cursor()
            try:
                if many:
                    self._raw.executemany(sql, params)
                elif params is None:
                    self._raw.execute(sql)
                else:
                    self._raw.execute(sql, params)
            except ValueError as error:
                raise translate(error) from None
            # The rows now: the shared connection may serve another
            # connection before this cursor is read.
            description = self._raw.description or None
            rows = self._raw.fetchall() if description is not None else None
            rowcount, lastrowid = self._raw.rowcount, self._raw.lastrowid
        self._rows = rows
        # libsql gives an empty description for statements without rows
        # (sqlite3: None), and a row count for queries (sqlite3: -1).
        self.description = description
        self.rowcount = -1 if self.description is not None else rowcount
        self.lastrowid = lastrowid

    def execute(self, sql: str, params: Any = None) -> ReplicaCursor:
        if self._local(sql):
            return self
        self.connection.refresh_if_stale()
        self.connection.check_writable(sql)
        self.connection._begin_implicitly(sql)
        sql, params = prepare(sql, params, django_style=self.django_style)
        self._run(sql, params)
        released = _RELEASE.match(sql)
        connection = self.connection
        if released is not None and released.group(1) == connection.outer_savepoint:
            connection.outer_savepoint = None
            connection.commit()  # as SQLite: releasing it ends the transaction
        return self

    def executemany(self, sql: str, params: Any) -> ReplicaCursor:
        self.connection.refresh_if_stale()
        self.connection.check_writable(sql)
        self.connection._begin_implicitly(sql)
        rows = list(params)
        prepared = prepare_many(sql, rows, django_style=self.django_style)
        if prepared is not None:
            self._run(prepared[0], prepared[1], many=True)
            return self
        total = 0  # rows that cannot share one statement: one by one
        for row in rows:
            self.execute(sql, row)
            total += max(self.rowcount, 0)
        self.rowcount = total
        return self

    def executescript(self, script: str) -> ReplicaCursor:
        self.connection.executescript(script)
        return self

    def _fetch(self, method: str, *args: Any) -> Any:
        if self._rows is not None:
            rows, self._rows = self._rows, []
            if method == "fetchone":
                self._rows = rows[1:]
                return rows[0] if rows else None
            size = args[0] if args else (len(rows) if method == "fetchall" else 1)
            self._rows = rows[size:]
            return rows[:size]
        if self._raw is None:
            return None if method == "fetchone" else []
        try:
            result = getattr(self._raw, method)(*args)
        except ValueError as error:
            raise translate(error) from None
        if result is None and method != "fetchone":
            return []  # libsql's fetchmany() past the end
        return result

    def fetchone(self) -> Any:
        return self._fetch("fetchone")

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._fetch("fetchmany", self.arraysize if size is None else size)

    def fetchall(self) -> list[Any]:
        return self._fetch("fetchall")

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except ValueError:
                pass

    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: int, column: int | None = None) -> None:
        pass


@functools.cache
def connection_factory(settings: LibSQLSettings) -> type[sqlite3.Connection]:
    """A ``factory`` for ``sqlite3.connect`` that opens a replica instead.

    ``sqlite3.connect(database, factory=F, ...)`` returns ``F(database,
    ...)``; ``__new__`` returning another object skips ``__init__``.
    ``sqlite3``'s own arguments (``detect_types``, ``uri``, ``timeout``, ...)
    do not apply to ``libsql`` and are ignored.
    """

    class OpenReplica(sqlite3.Connection):
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            database = kwargs.pop("database", None) or args[0]
            return ReplicaConnection.open(os.fspath(database), settings)

    return OpenReplica
