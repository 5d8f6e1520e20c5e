"""Async cursors.

An :class:`AsyncCursorWrapper` wraps the cursor Django's own wrapper returns
(``CursorWrapper``, or ``CursorDebugWrapper`` when queries are logged), and
runs its methods through the bridge. So raw SQL from async code gets exactly
what the ORM gets: ``execute_wrapper`` hooks, query logging in
``connection.queries``, Django's exception classes, and the "broken
transaction" check.

Rows a client-side cursor already holds are fetched without the bridge (no
I/O happens); named server-side cursors fetch through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .wrapper import AsyncDatabaseWrapper

__all__ = ["AsyncCursorContext", "AsyncCursorWrapper"]


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
