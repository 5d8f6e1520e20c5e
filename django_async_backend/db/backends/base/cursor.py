"""Async cursors.

An :class:`AsyncCursorWrapper` wraps the cursor Django's own wrapper returns
(``CursorWrapper``, or ``CursorDebugWrapper`` when queries are logged), and
runs its methods through the bridge. So raw SQL from async code gets exactly
what the ORM gets: ``execute_wrapper`` hooks, query logging in
``connection.queries``, Django's exception classes, and the "broken
transaction" check.

Rows a client-side cursor already holds are fetched without the bridge (no
I/O happens); named server-side cursors fetch through it.

``copy()`` and ``stream()`` are the driver's own (psycopg's ``AsyncCopy``
and ``AsyncCursor.stream``), awaited directly while the cursor's connection
is held for the whole block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from django.db import NotSupportedError

if TYPE_CHECKING:
    from .wrapper import AsyncDatabaseWrapper

__all__ = ["AsyncCopyContext", "AsyncCursorContext", "AsyncCursorWrapper"]


class AsyncCursorWrapper:
    """An async cursor on one task's connection."""

    def __init__(self, connection: AsyncDatabaseWrapper, cursor: Any) -> None:
        self.db = connection
        # Django's CursorWrapper around the driver adapter's cursor.
        self.sync_cursor = cursor
        self._server_side = bool(getattr(cursor.cursor, "is_server_side", False))

    def __repr__(self) -> str:
        kind = "server-side " if self._server_side else ""
        return f"<{kind}{type(self).__qualname__} on {self.db!r}>"

    def __getattr__(self, name: str) -> Any:
        # description, rowcount, query, statusmessage, ...
        return getattr(self.sync_cursor, name)

    @property
    def is_server_side(self) -> bool:
        """Whether this is a named cursor that streams rows from the server."""
        return self._server_side

    async def execute(self, sql: Any, params: Any = None) -> AsyncCursorWrapper:
        """Execute ``sql`` with ``params``; returns the cursor."""
        await self.db._run(self.sync_cursor.execute, sql, params)
        return self

    async def executemany(
        self, sql: Any, param_list: Sequence[Any]
    ) -> AsyncCursorWrapper:
        """Execute ``sql`` once per parameter set; returns the cursor."""
        await self.db._run(self.sync_cursor.executemany, sql, param_list)
        return self

    async def callproc(
        self, procname: str, params: Any = None, kparams: Any = None
    ) -> Any:
        """Call a stored function, as Django's ``cursor.callproc``."""
        return await self.db._run(self.sync_cursor.callproc, procname, params, kparams)

    async def fetchone(self) -> Any:
        """The next row, or ``None``."""
        if self._server_side:
            return await self.db._run(self.sync_cursor.fetchone)
        return self.sync_cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to ``size`` rows (``arraysize`` by default)."""
        args = () if size is None else (size,)
        if self._server_side:
            return await self.db._run(self.sync_cursor.fetchmany, *args)
        return self.sync_cursor.fetchmany(*args)

    async def fetchall(self) -> list[Any]:
        """All remaining rows."""
        if self._server_side:
            return await self.db._run(self.sync_cursor.fetchall)
        return self.sync_cursor.fetchall()

    async def scroll(self, value: int, mode: str = "relative") -> None:
        """Move the cursor position (client-side cursors, or scrollable ones)."""
        if self._server_side:
            await self.db._run(self.sync_cursor.scroll, value, mode)
        else:
            self.sync_cursor.scroll(value, mode)

    def _driver_cursor(self, method: str, what: str) -> Any:
        """The driver's async cursor, for psycopg methods used directly."""
        raw = getattr(self.sync_cursor.cursor, "raw", None)
        if not hasattr(raw, method):
            raise NotSupportedError(
                f"cursor.{method}() {what}, which {self.db.display_name} does "
                f"not have: it needs the PostgreSQL ENGINE."
            )
        return raw

    async def stream(
        self, query: Any, params: Any = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """psycopg's ``stream()``: ``async for row in cursor.stream(sql)``.

        Rows come one at a time as the server sends them (single-row mode),
        the connection held until the iteration ends: iterate to the end, or
        close the iterator (``contextlib.aclosing``) when stopping early.
        """
        raw = self._driver_cursor("stream", "streams in single-row mode")
        db = self.db
        async with db._holding_turn():
            db.validate_no_broken_transaction()
            with db.sync_wrapper.wrap_database_errors:
                async for row in raw.stream(query, params, **kwargs):
                    yield row

    def copy(
        self, statement: Any, params: Any = None, **kwargs: Any
    ) -> AsyncCopyContext:
        """``COPY ... FROM STDIN`` / ``TO STDOUT``, as psycopg's async cursor.

        ``async with cursor.copy(sql) as copy:`` gives psycopg's
        ``AsyncCopy`` (``await copy.write(data)``, ``await
        copy.write_row(row)``, ``await copy.read()``, ``async for row in
        copy.rows()``, ``async for block in copy``). ``async for row in
        cursor.copy(sql)`` reads the rows of a ``COPY ... TO STDOUT``.
        """
        return AsyncCopyContext(self, statement, params, kwargs)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._rows()

    async def _rows(self) -> AsyncIterator[Any]:
        if self._server_side:
            size = getattr(self.sync_cursor, "itersize", 100) or 100
            while rows := await self.fetchmany(size):
                for row in rows:
                    yield row
        else:
            for row in self.sync_cursor:
                yield row

    async def close(self) -> None:
        """Close the cursor (a server-side cursor is closed on the server)."""
        if self._server_side:
            await self.db._run(self.sync_cursor.close)
        else:
            self.sync_cursor.close()

    async def __aenter__(self) -> AsyncCursorWrapper:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()


class AsyncCopyContext:
    """What ``cursor.copy()`` returns: ``async with`` it, or ``async for``."""

    __slots__ = ("_cm", "_cursor", "_kwargs", "_params", "_statement")

    def __init__(
        self,
        cursor: AsyncCursorWrapper,
        statement: Any,
        params: Any,
        kwargs: dict[str, Any],
    ) -> None:
        self._cursor = cursor
        self._statement = statement
        self._params = params
        self._kwargs = kwargs
        self._cm: Any = None

    @asynccontextmanager
    async def _copying(self) -> AsyncIterator[Any]:
        cursor = self._cursor
        raw = cursor._driver_cursor("copy", "runs COPY")
        db = cursor.db
        async with db._holding_turn():
            db.validate_no_broken_transaction()
            with db.sync_wrapper.wrap_database_errors:
                async with raw.copy(
                    self._statement, self._params, **self._kwargs
                ) as copy:
                    yield copy

    async def __aenter__(self) -> Any:
        if self._cm is not None:
            raise RuntimeError("This cursor.copy() block is already open.")
        self._cm = self._copying()
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> Any:
        cm, self._cm = self._cm, None
        return await cm.__aexit__(*exc_info)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._rows()

    async def _rows(self) -> AsyncIterator[Any]:
        async with self as copy:
            async for row in copy.rows():
                yield row

    def __enter__(self) -> Any:
        raise TypeError(
            "cursor.copy() on an async cursor is asynchronous: use "
            "`async with cursor.copy(...) as copy:`."
        )

    def __exit__(self, *exc_info: Any) -> None:  # pragma: no cover - never entered
        pass


class AsyncCursorContext:
    """What ``connection.cursor()`` returns: awaitable and async context.

    ``async with connection.cursor() as cursor:`` and
    ``async with await connection.cursor() as cursor:`` both work, and
    ``cursor = await connection.cursor()`` hands out a cursor to close
    yourself.
    """

    __slots__ = ("_chunked", "_cursor", "_db")

    def __init__(self, connection: AsyncDatabaseWrapper, *, chunked: bool) -> None:
        self._db = connection
        self._chunked = chunked
        self._cursor: AsyncCursorWrapper | None = None

    async def _open(self) -> AsyncCursorWrapper:
        sync = self._db.sync_wrapper
        factory = sync.chunked_cursor if self._chunked else sync.cursor
        self._cursor = AsyncCursorWrapper(self._db, await self._db._run(factory))
        return self._cursor

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncCursorWrapper:
        return await self._open()

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._cursor is not None:
            await self._cursor.close()
