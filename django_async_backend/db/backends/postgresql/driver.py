"""psycopg's async API with a sync face, for Django's code inside the bridge.

Django's PostgreSQL wrapper talks to a psycopg ``Connection``. In async mode it
gets an :class:`AwaitingConnection` instead: the same methods and properties,
each awaiting psycopg's ``AsyncConnection`` through :func:`await_only`. The
cursor, copy and pool objects are adapted the same way. The adapters are thin
on purpose: they translate calls, nothing more, so psycopg keeps owning
protocol state, cancellation and error classes (which Django maps to its own
exceptions exactly as it does for the sync driver).
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import Iterator
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base as pg_base
from psycopg.client_cursor import ClientCursorMixin
from psycopg.pq import ConnStatus, TransactionStatus

from ...bridge import await_only, in_bridge, run_ready
from .handoff import ExhaustedPoolQueue

__all__ = [
    "AsyncDriver",
    "AsyncServerSideCursor",
    "AwaitingConnection",
    "AwaitingCursor",
    "AwaitingPool",
    "async_connect_kwargs",
    "check_not_closed",
    "server_closed",
]


class AsyncServerSideCursor(ClientCursorMixin, psycopg.AsyncServerCursor):
    """A named cursor with client-side parameter binding.

    The async twin of Django's ``ServerSideCursor``: psycopg binds parameters
    on the server for named cursors, which the SQL Django generates does not
    always support.
    """


# Django picks one of its sync cursor classes; async connections need the twin.
_ASYNC_CURSOR_CLASSES: dict[Any, type[psycopg.AsyncCursor[Any]]] = {
    pg_base.Cursor: psycopg.AsyncClientCursor,
    pg_base.ServerBindingCursor: psycopg.AsyncCursor,
}


def async_connect_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """Translate Django's connection parameters for ``AsyncConnection``."""
    params = dict(params)
    factory = params.get("cursor_factory")
    if factory is not None:
        if factory in _ASYNC_CURSOR_CLASSES:
            params["cursor_factory"] = _ASYNC_CURSOR_CLASSES[factory]
        elif not (
            isinstance(factory, type) and issubclass(factory, psycopg.AsyncCursor)
        ):
            raise ImproperlyConfigured(
                f"OPTIONS['cursor_factory'] is {factory!r}, a sync cursor class. "
                f"Async connections need a psycopg.AsyncCursor subclass; remove "
                f"the option or use an async cursor class."
            )
    return params


class AwaitingCursor:
    """A psycopg cursor's sync API over an async cursor."""

    __slots__ = ("connection_adapter", "is_server_side", "raw")

    def __init__(
        self, raw: Any, connection_adapter: AwaitingConnection, *, server_side: bool
    ) -> None:
        self.raw = raw
        self.connection_adapter = connection_adapter
        self.is_server_side = server_side

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    # Django's psycopg cursors implement callproc() on top of execute(); reuse
    # their implementation, which only needs a sync execute().
    callproc = pg_base.CursorMixin.callproc

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> AwaitingCursor:
        await_only(self.raw.execute(query, params, **kwargs))
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        await_only(self.raw.executemany(query, params_seq, **kwargs))

    def fetchone(self) -> Any:
        if self.is_server_side:
            return await_only(self.raw.fetchone())
        return run_ready(self.raw.fetchone())

    def fetchmany(self, size: int = 0) -> list[Any]:
        if self.is_server_side:
            return await_only(self.raw.fetchmany(size))
        return run_ready(self.raw.fetchmany(size))

    def fetchall(self) -> list[Any]:
        if self.is_server_side:
            return await_only(self.raw.fetchall())
        return run_ready(self.raw.fetchall())

    def scroll(self, value: int, mode: str = "relative") -> None:
        if self.is_server_side:
            await_only(self.raw.scroll(value, mode))
        else:
            run_ready(self.raw.scroll(value, mode))

    def __iter__(self) -> Iterator[Any]:
        if self.is_server_side:
            size = self.raw.itersize
            while rows := self.fetchmany(size):
                yield from rows
        else:
            while (row := self.fetchone()) is not None:
                yield row

    def close(self) -> None:
        if not self.is_server_side:
            run_ready(self.raw.close())
        elif self.raw.closed:
            return
        elif in_bridge():
            await_only(self.raw.close())
        else:
            # Closed from outside any task's bridge call: typically a
            # half-consumed ORM iterator being garbage collected. Closing a
            # named cursor is a query; run it the next time the owning task
            # uses the connection, or when the connection is released.
            self.connection_adapter.pending_closes.append(self.raw)

    def __enter__(self) -> AwaitingCursor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> AwaitingCopy:
        return AwaitingCopy(self.raw.copy(statement, params, **kwargs))


class AwaitingCopy:
    """psycopg's ``Copy`` context manager over ``AsyncCopy``."""

    __slots__ = ("_cm", "raw")

    def __init__(self, cm: Any) -> None:
        self._cm = cm
        self.raw: Any = None

    def __enter__(self) -> AwaitingCopy:
        self.raw = await_only(self._cm.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        return await_only(self._cm.__aexit__(*exc_info))

    def write(self, buffer: Any) -> None:
        await_only(self.raw.write(buffer))

    def write_row(self, row: Any) -> None:
        await_only(self.raw.write_row(row))

    def read(self) -> Any:
        return await_only(self.raw.read())

    def read_row(self) -> Any:
        return await_only(self.raw.read_row())

    def rows(self) -> Iterator[Any]:
        while (row := self.read_row()) is not None:
            yield row

    def set_types(self, types: Any) -> None:
        self.raw.set_types(types)


class AwaitingConnection:
    """A psycopg ``Connection``'s sync API over an ``AsyncConnection``."""

    __slots__ = ("_next_cursor_name", "pending_closes", "pool", "raw", "server_binding")

    def __init__(
        self,
        raw: psycopg.AsyncConnection[Any],
        *,
        pool: AwaitingPool | None = None,
        server_binding: bool = False,
    ) -> None:
        self.raw = raw
        self.pool = pool
        self.server_binding = server_binding
        self._next_cursor_name: str | None = None
        self.pending_closes: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        # info, adapters, pgconn, closed, broken, notifies, ...
        return getattr(self.raw, name)

    def __repr__(self) -> str:
        return f"<AwaitingConnection {self.raw!r}>"

    @property
    def _pool(self) -> AwaitingPool | None:
        # Django returns pooled connections with ``connection._pool.putconn``.
        return self.pool

    @property
    def autocommit(self) -> bool:
        return self.raw.autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        # Django sets autocommit on every connect(); psycopg would take its
        # lock and run a (no-op) wait even when nothing changes.
        if self.raw.autocommit != value:
            await_only(self.raw.set_autocommit(value))

    @property
    def isolation_level(self) -> Any:
        return self.raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        await_only(self.raw.set_isolation_level(value))

    @property
    def read_only(self) -> Any:
        return self.raw.read_only

    @read_only.setter
    def read_only(self, value: Any) -> None:
        await_only(self.raw.set_read_only(value))

    @property
    def deferrable(self) -> Any:
        return self.raw.deferrable

    @deferrable.setter
    def deferrable(self, value: Any) -> None:
        await_only(self.raw.set_deferrable(value))

    def name_next_cursor(self, name: str) -> None:
        """Make the next :meth:`cursor` call create the named cursor ``name``.

        Django's ``create_cursor()`` builds named cursors from psycopg's sync
        classes; the wrapper calls this and then lets Django create an
        unnamed cursor, so Django's own time zone handling still applies.
        """
        self._next_cursor_name = name

    def cursor(self, name: str = "", **kwargs: Any) -> AwaitingCursor:
        self.close_pending()
        if not name and self._next_cursor_name:
            name, self._next_cursor_name = self._next_cursor_name, None
            kwargs.setdefault("scrollable", False)
            kwargs.setdefault("withhold", self.raw.autocommit)
        if not name:
            return AwaitingCursor(self.raw.cursor(**kwargs), self, server_side=False)
        if self.server_binding:
            raw = self.raw.cursor(name, **kwargs)
        else:
            raw = AsyncServerSideCursor(self.raw, name=name, **kwargs)
        return AwaitingCursor(raw, self, server_side=True)

    def close_pending(self) -> None:
        """Close server-side cursors abandoned outside the bridge."""
        while self.pending_closes and in_bridge():
            raw = self.pending_closes.pop()
            if not raw.closed and not self.raw.closed:
                await_only(raw.close())

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> AwaitingCursor:
        cursor = self.cursor()
        return cursor.execute(query, params, **kwargs)

    def commit(self) -> None:
        await_only(self.raw.commit())

    def rollback(self) -> None:
        await_only(self.raw.rollback())

    def close(self) -> None:
        await_only(self.raw.close())

    def cancel_safe(self, timeout: float = 30.0) -> None:
        await_only(self.raw.cancel_safe(timeout=timeout))


_said_goodbye: weakref.WeakSet[Any] = weakref.WeakSet()


def watch_for_goodbye(raw: psycopg.AsyncConnection[Any]) -> None:
    """Notice when the server announces it is closing ``raw``.

    A server that terminates an idle connection sends a FATAL error first.
    libpq hands an error that arrives while idle to the notice processor and
    only marks the connection bad once it reads the end of the stream, which
    may come a moment later; this handler remembers the FATAL itself.
    """
    ref = weakref.ref(raw)

    def on_notice(diagnostic: Any) -> None:
        if diagnostic.severity_nonlocalized in ("FATAL", "PANIC"):
            connection = ref()
            if connection is not None:
                _said_goodbye.add(connection)

    raw.add_notice_handler(on_notice)


def server_closed(raw: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server has closed this idle connection (no round trip).

    A server that restarts or terminates a backend sends an error and closes
    the socket, which makes an idle connection's socket readable. Reading what
    is there (at most a few messages) either finds only notifications, or
    the server's FATAL goodbye (see :func:`watch_for_goodbye`), or makes libpq
    notice the closed connection. A healthy idle connection costs one
    non-blocking poll.
    """
    if raw.closed or raw.broken:
        return True
    pgconn = raw.pgconn
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    try:
        for _ in range(8):
            if not poller.poll(0):
                break
            pgconn.consume_input()
            # Parse what arrived: an error received while idle reaches the
            # notice handler only when libpq parses its input buffer, and the
            # end of the stream may not have arrived yet.
            pgconn.is_busy()
    except (psycopg.OperationalError, OSError):
        return True
    return raw in _said_goodbye or pgconn.status != ConnStatus.OK


async def check_not_closed(raw: psycopg.AsyncConnection[Any]) -> None:
    """psycopg_pool ``check`` callback: discard connections the server closed."""
    if server_closed(raw):
        raise psycopg.OperationalError("the server closed this idle connection")


async def return_to_pool(pool: Any, raw: psycopg.AsyncConnection[Any]) -> None:
    """Bring ``raw`` to an idle state and give it back to ``pool``.

    psycopg's pool would roll back an open transaction itself, but logs a
    warning each time; rolling back first keeps the log for real problems.
    """
    status = raw.pgconn.transaction_status
    if status == TransactionStatus.ACTIVE:
        try:
            await raw.cancel_safe(timeout=5.0)
        except Exception:
            pass
    elif status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        try:
            await raw.rollback()
        except Exception:
            pass
    await pool.putconn(raw)


class AwaitingPool:
    """A psycopg ``ConnectionPool``'s sync API over an ``AsyncConnectionPool``.

    Checkouts queue in an :class:`~.handoff.ExhaustedPoolQueue` while the
    pool is exhausted, and clean connections given back go straight to the
    task that has waited longest.
    """

    __slots__ = ("checked_out", "queue", "raw", "server_binding")

    def __init__(self, raw: Any, *, server_binding: bool) -> None:
        self.raw = raw
        self.server_binding = server_binding
        self.queue = ExhaustedPoolQueue(raw)
        # Connections handed to tasks and not yet returned.
        self.checked_out: weakref.WeakSet[Any] = weakref.WeakSet()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def has_waiters(self) -> bool:
        """Whether tasks are queued for a connection (the pool is exhausted)."""
        return bool(self.queue.waiting) or bool(
            self.raw.get_stats().get("requests_waiting")
        )

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        if self.raw.closed:
            await_only(self.raw.open(wait=wait, timeout=timeout))

    def getconn(self, timeout: float | None = None) -> AwaitingConnection:
        if timeout is None:
            timeout = self.raw.timeout
        raw = await_only(self.queue.checkout(timeout))
        self.checked_out.add(raw)
        return AwaitingConnection(raw, pool=self, server_binding=self.server_binding)

    def putconn(self, conn: AwaitingConnection) -> None:
        if self.hand_over(conn.raw):
            return
        # Shielded: a second cancellation must not lose the connection.
        await_only(asyncio.shield(self.give_back(conn.raw)))

    def hand_over(self, raw: psycopg.AsyncConnection[Any]) -> bool:
        """Give ``raw`` to the longest-waiting queued task, if any (no I/O)."""
        if self.queue.waiting and not server_closed(raw) and self.queue.offer(raw):
            self.checked_out.discard(raw)
            return True
        return False

    async def give_back(self, raw: psycopg.AsyncConnection[Any]) -> None:
        """Return ``raw`` clean: to a queued task, else to the pool."""
        if self.hand_over(raw):
            return
        self.checked_out.discard(raw)
        await return_to_pool(self.raw, raw)

    def close(self, timeout: float = 5.0) -> None:
        self.queue.close()
        await_only(self.raw.close(timeout))


class AsyncDriver:
    """Stands in for the ``psycopg`` module as an async-mode wrapper's
    ``Database``: ``connect()`` opens an ``AsyncConnection`` and returns its
    sync face; every other name (exception classes above all, which Django's
    error mapping looks up here) is psycopg's own."""

    def __init__(self, wrapper: Any) -> None:
        self._wrapper = wrapper

    def __getattr__(self, name: str) -> Any:
        return getattr(psycopg, name)

    def connect(self, **params: Any) -> AwaitingConnection:
        wrapper = self._wrapper
        server_binding = (
            wrapper.settings_dict["OPTIONS"].get("server_side_binding") is True
        )
        raw = await_only(
            psycopg.AsyncConnection.connect(**async_connect_kwargs(params))
        )
        # A persistent connection (CONN_MAX_AGE) waits between tasks too.
        watch_for_goodbye(raw)
        return AwaitingConnection(raw, server_binding=server_binding)
