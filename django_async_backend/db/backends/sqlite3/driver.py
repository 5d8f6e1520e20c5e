"""SQLite for the bridge: an async connection, and its sync face for Django.

:class:`AsyncConnection` is the async driver: a ``sqlite3`` connection that
lives on its own :class:`~.worker.Worker` thread, with writers queued on the
event loop (:mod:`.locking`). Its methods are coroutines; none blocks the
loop.

:class:`AwaitingConnection` and :class:`AwaitingCursor` give it the sync API
Django's SQLite backend expects of a ``sqlite3`` connection, each call
awaiting the async driver through :func:`await_only`. They are thin: Django's
own code (its cursor class converting ``%s`` placeholders, its SQL functions,
its PRAGMAs) runs unchanged on the worker thread, and ``sqlite3``'s
exceptions reach Django's error mapping as they are.

Round trips to the thread are the cost to keep low. An ``execute`` also
fetches the first rows of a query (all of them for a write, so the statement
is over before the write lock is released) and closes a cursor it has read to
the end, so a typical ORM query is one trip; a cursor closed before its end
is closed without waiting; and calls that do no I/O (registering functions,
reading limits, switching autocommit off and on outside a transaction) run
inline when the thread is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import sqlite3
import types
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from ...bridge import await_only
from .locking import database_key, may_write, write_lock
from .memory import anchor, is_shared_memory
from .worker import THREAD_NAME_PREFIX, Worker

__all__ = [
    "ROWS_PER_TRIP",
    "AsyncConnection",
    "AwaitingConnection",
    "AwaitingCursor",
    "Outcome",
    "opener",
]

ROWS_PER_TRIP = 1000
"""Rows fetched per round trip to the connection's thread."""

# Connection methods that do no I/O: run inline when the thread is idle.
_INLINE = frozenset(
    {
        "create_function",
        "create_aggregate",
        "create_window_function",
        "create_collation",
        "getlimit",
        "setlimit",
        "set_authorizer",
        "set_progress_handler",
        "set_trace_callback",
    }
)


class Outcome(NamedTuple):
    """What an ``execute`` on the worker thread returns to the loop."""

    cursor: sqlite3.Cursor | None  # None once the statement is complete
    rows: list[Any]  # the rows fetched so far
    description: Any
    rowcount: int
    lastrowid: int | None


def _execute(
    raw: sqlite3.Connection,
    cursor: sqlite3.Cursor | None,
    factory: Any,
    sql: str,
    params: Any,
    many: bool,
    prefetch: int | None,
) -> Outcome:
    """Run on the worker: execute, then fetch up to ``prefetch`` rows.

    A statement whose rows are all fetched has its cursor closed here, so a
    typical query needs no further call on the thread. So does a statement
    that fails: the exception travels on (Django keeps it as
    ``rollback_exc``, user code may log it), and its traceback holds this
    frame; an open cursor in it would keep its statement alive, and a
    connection closed with a live statement is not closed at all (see
    :func:`_close`).
    """
    if cursor is None:
        cursor = raw.cursor(factory) if factory is not None else raw.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        elif params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)
    except BaseException:
        cursor.close()
        raise
    description = cursor.description
    rows: list[Any] = []
    complete = True
    if description is not None:
        if prefetch is None:
            rows = cursor.fetchall()
        else:
            rows = cursor.fetchmany(prefetch)
            complete = len(rows) < prefetch
    outcome = Outcome(cursor, rows, description, cursor.rowcount, cursor.lastrowid)
    if complete:
        cursor.close()
        return outcome._replace(cursor=None)
    return outcome


def _fetch(cursor: sqlite3.Cursor, size: int | None) -> tuple[list[Any], bool]:
    """Run on the worker: fetch ``size`` rows (all if None); close when done."""
    try:
        rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
    except BaseException:
        cursor.close()
        raise
    complete = size is None or len(rows) < size
    if complete:
        cursor.close()
    return rows, complete


class AsyncConnection:
    """A ``sqlite3`` connection on a thread of its own, with async methods."""

    def __init__(self, raw: sqlite3.Connection, worker: Worker, key: str) -> None:
        self.raw = raw
        self.worker = worker
        self.key = key
        # Seconds a writer waits for the in-process write lock (the
        # connection's busy ``timeout``).
        self.lock_timeout = 5.0
        self._lock: asyncio.Lock | None = None
        self._closed = False
        # Cursors with rows left to fetch, closed before the connection.
        self._unfinished: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()
        worker.on_idle(self._settle_lock)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__qualname__} {self.key!r} {state}>"

    @classmethod
    async def connect(
        cls,
        database: str | os.PathLike[str],
        *,
        factory: Any = sqlite3.Connection,
        **kwargs: Any,
    ) -> AsyncConnection:
        """Open ``database`` (``sqlite3.connect`` arguments) on a new thread."""
        worker = Worker(f"{THREAD_NAME_PREFIX}{database}")
        if is_shared_memory(database):
            await worker.submit(anchor, database)
        try:
            # The loop's thread reads its state and may interrupt it.
            options = dict(kwargs, factory=factory, check_same_thread=False)
            raw = await worker.submit(_connect, database, options)
        except BaseException:
            worker.stop()
            raise
        connection = cls(raw, worker, database_key(database))
        connection.lock_timeout = float(kwargs.get("timeout", 5.0))
        return connection

    # -- state -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        """Whether a call is queued or running on the thread."""
        return self.worker.busy

    @property
    def in_transaction(self) -> bool:
        """Whether SQLite has a transaction open on this connection."""
        return not self._closed and self.raw.in_transaction

    @property
    def holds_write_lock(self) -> bool:
        """Whether this connection holds the in-process write lock."""
        return self._lock is not None

    # -- running calls -------------------------------------------------------

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the connection's thread."""
        future = self.worker.submit(fn, *args)
        try:
            return await future
        except asyncio.CancelledError:
            if not future.cancelled() or self.busy:
                # Started already: stop the statement rather than let it run on.
                self.interrupt()
            raise

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` on the thread without waiting for it."""
        self.worker.post(fn, *args)

    def interrupt(self) -> None:
        """Abort the statement running on the thread, if any (thread-safe)."""
        if not self._closed:
            self.raw.interrupt()

    async def execute(
        self,
        cursor: sqlite3.Cursor | None,
        factory: Any,
        sql: str,
        params: Any = None,
        *,
        many: bool = False,
    ) -> Outcome:
        """Execute on ``cursor`` (a new one from ``factory`` if None).

        A statement that may write first takes the database's write lock, and
        its rows are all fetched, so that it is complete when the call
        returns.
        """
        writes = may_write(sql)
        if writes and self._lock is None:
            await self._acquire_write_lock()
        prefetch = None if writes else ROWS_PER_TRIP
        outcome: Outcome = await self.run(
            _execute, self.raw, cursor, factory, sql, params, many, prefetch
        )
        if outcome.cursor is not None:
            self._unfinished.add(outcome.cursor)
        return outcome

    async def executescript(self, script: str) -> None:
        """Run several statements (``sqlite3``'s ``executescript``).

        The script may write anywhere in it: it takes the write lock.
        """
        if self._lock is None:
            await self._acquire_write_lock()
        await self.run(self.raw.executescript, script)

    async def commit(self) -> None:
        await self.run(self.raw.commit)

    async def rollback(self) -> None:
        await self.run(self.raw.rollback)

    async def close(self) -> None:
        """Close the connection (rolling back) and stop its thread.

        A statement still running is interrupted first; unfinished cursors
        are closed and an open transaction rolled back before the connection
        itself (see :func:`_close`). Safe to call twice.
        """
        if self._closed:
            return
        if self.busy:
            self.raw.interrupt()
        future = self.worker.submit(_close, self.raw, list(self._unfinished))
        self._unfinished.clear()
        self._closed = True
        self.worker.stop()
        try:
            await asyncio.shield(future)
        finally:
            self._settle_lock()

    # -- the write lock ----------------------------------------------------

    async def _acquire_write_lock(self) -> None:
        lock = write_lock(self.key)
        try:
            async with asyncio.timeout(self.lock_timeout):
                await lock.acquire()
        except TimeoutError:
            timed_out = True
        else:
            timed_out = False
            self._lock = lock
        if timed_out:
            # Raised outside the handler: the timeout's internal cancellation
            # must not look like the task's own in the exception's context.
            raise sqlite3.OperationalError(
                f"database is locked: another task's write transaction on "
                f"{self.key!r} kept it for longer than the connection's "
                f"timeout ({self.lock_timeout:g} s, DATABASES[...]['OPTIONS']"
                f"['timeout'])."
            )

    def _settle_lock(self) -> None:
        """Release the write lock once no transaction and no call is left."""
        if self._lock is None or self.worker.busy:
            return
        if self._closed or not self.raw.in_transaction:
            lock, self._lock = self._lock, None
            lock.release()


def _close(raw: sqlite3.Connection, cursors: list[sqlite3.Cursor]) -> None:
    """Run on the worker: close ``raw`` for good, releasing its locks.

    ``sqlite3``'s ``close()`` (``sqlite3_close_v2``) does not close a
    connection that still has a live statement: the connection becomes a
    "zombie" that keeps its files, its open transaction and the database's
    write lock until the last statement is finalized, while everything in
    this process believes it closed (the in-process write lock is released),
    so other writers wait in SQLite's busy handler and fail with "database
    is locked". So: the connection's own unfinished cursors are closed
    first, an open transaction is rolled back (which also releases the lock
    if a cursor we don't know of, e.g. one user code made on the raw
    connection, is still alive), and only then is it closed.
    """
    for cursor in cursors:
        with contextlib.suppress(sqlite3.Error):
            cursor.close()
    if raw.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            raw.rollback()
    raw.close()


def _connect(
    database: str | os.PathLike[str], kwargs: dict[str, Any]
) -> sqlite3.Connection:
    return sqlite3.connect(database, **kwargs)


class AwaitingCursor:
    """A ``sqlite3.Cursor``'s sync API over :class:`AsyncConnection`."""

    # The async face fetches through the bridge: more rows may have to come
    # from the connection's thread.
    is_server_side = True

    def __init__(self, connection: AwaitingConnection, factory: Any = None) -> None:
        self.connection_adapter = connection
        self.factory = factory
        # The sqlite3 cursor while a statement has rows left to fetch.
        self.raw: sqlite3.Cursor | None = None
        self.arraysize = 1
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []
        self._position = 0

    @property
    def connection(self) -> AwaitingConnection:
        return self.connection_adapter

    def _run(self, sql: str, params: Any, many: bool) -> AwaitingCursor:
        driver = self.connection_adapter.raw
        self._rows, self._position = [], 0
        # Whatever happens, the raw cursor is the call's now: on success it
        # comes back if it has rows left, on failure it is closed.
        raw, self.raw = self.raw, None
        outcome = await_only(driver.execute(raw, self.factory, sql, params, many=many))
        self.raw, self._rows = outcome.cursor, outcome.rows
        self.description = outcome.description
        self.rowcount, self.lastrowid = outcome.rowcount, outcome.lastrowid
        return self

    def execute(self, sql: str, params: Any = None) -> AwaitingCursor:
        return self._run(sql, params, False)

    def executemany(self, sql: str, params: Any) -> AwaitingCursor:
        return self._run(sql, params, True)

    def _fetch_more(self, size: int | None) -> None:
        raw = self.raw
        if raw is None:
            return
        driver = self.connection_adapter.raw
        if driver.closed:
            # Its cursors were closed with it; as sqlite3 says it.
            self.raw = None
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        more, complete = await_only(driver.run(_fetch, raw, size))
        if complete:
            self.raw = None
        self._rows = self._rows[self._position :] + more
        self._position = 0

    def fetchone(self) -> Any:
        if self._position >= len(self._rows):
            self._fetch_more(ROWS_PER_TRIP)
        if self._position >= len(self._rows):
            return None
        row = self._rows[self._position]
        self._position += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            size = self.arraysize
        if len(self._rows) - self._position < size:
            self._fetch_more(max(size, ROWS_PER_TRIP))
        rows = self._rows[self._position : self._position + size]
        self._position += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        self._fetch_more(None)
        rows = self._rows[self._position :]
        self._rows, self._position = [], 0
        return rows

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        raw, self.raw = self.raw, None
        self._rows, self._position = [], 0
        driver = self.connection_adapter.raw
        if raw is not None and not driver.closed:
            driver.post(raw.close)

    def setinputsizes(self, sizes: Sequence[Any]) -> None:
        pass

    def setoutputsize(self, size: int, column: int | None = None) -> None:
        pass


class AwaitingConnection:
    """A ``sqlite3.Connection``'s sync API over :class:`AsyncConnection`."""

    __slots__ = ("raw",)

    def __init__(self, raw: AsyncConnection) -> None:
        object.__setattr__(self, "raw", raw)

    def __repr__(self) -> str:
        return f"<AwaitingConnection {self.raw!r}>"

    def __getattr__(self, name: str) -> Any:
        raw = self.raw.raw
        value = getattr(raw, name)
        if not _is_method(raw, name):
            return value  # row_factory, total_changes, ...
        driver = self.raw
        if name in _INLINE:

            def inline(*args: Any, **kwargs: Any) -> Any:
                if driver.busy:
                    return await_only(driver.run(_call, value, args, kwargs))
                return value(*args, **kwargs)

            return inline

        def on_thread(*args: Any, **kwargs: Any) -> Any:
            return await_only(driver.run(_call, value, args, kwargs))

        return on_thread

    def __setattr__(self, name: str, value: Any) -> None:
        # row_factory, text_factory: plain attributes of the connection.
        setattr(self.raw.raw, name, value)

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self.raw.raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # Setting it commits an open transaction; otherwise it is a flag.
        driver = self.raw
        if driver.busy or driver.in_transaction:
            await_only(driver.run(setattr, driver.raw, "isolation_level", value))
        else:
            driver.raw.isolation_level = value

    def cursor(self, factory: Any = None) -> AwaitingCursor:
        return AwaitingCursor(self, factory)

    def execute(self, sql: str, params: Any = None) -> AwaitingCursor:
        return self.cursor().execute(sql, params)

    def executemany(self, sql: str, params: Any) -> AwaitingCursor:
        return self.cursor().executemany(sql, params)

    def executescript(self, script: str) -> None:
        await_only(self.raw.executescript(script))

    def commit(self) -> None:
        await_only(self.raw.commit())

    def rollback(self) -> None:
        await_only(self.raw.rollback())

    def close(self) -> None:
        await_only(self.raw.close())

    def interrupt(self) -> None:
        self.raw.interrupt()


def _is_method(raw: sqlite3.Connection, name: str) -> bool:
    return isinstance(
        inspect.getattr_static(type(raw), name, None),
        types.MethodDescriptorType | types.FunctionType,
    )


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return fn(*args, **kwargs)


@functools.cache
def opener(connection_class: Any = None) -> type[sqlite3.Connection]:
    """A ``factory`` for ``sqlite3.connect`` that opens on a worker thread.

    Django's ``get_new_connection()`` calls ``sqlite3.connect(**params)``
    and then configures the connection it gets (SQL functions, PRAGMAs, init
    commands). Passing this class as ``params["factory"]`` makes that call
    return an :class:`AwaitingConnection` instead, so Django's own code
    configures the async connection. ``connection_class`` is the user's own
    ``OPTIONS["factory"]``, used on the worker thread.
    """
    target = connection_class or sqlite3.Connection

    class OpenOnWorker(sqlite3.Connection):
        # sqlite3.connect() calls factory(database, **kwargs); __new__ may
        # return another object, and then __init__ is not called.
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("factory", None)
            database = kwargs.pop("database", None) or args[0]
            driver = await_only(
                AsyncConnection.connect(database, factory=target, **kwargs)
            )
            return AwaitingConnection(driver)

    return OpenOnWorker
