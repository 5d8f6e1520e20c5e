"""A ``sqlite3``-shaped connection and cursor over the Hrana client.

Django's SQLite backend drives a ``sqlite3.Connection``: ``cursor(factory=)``,
``commit()``, ``rollback()``, ``isolation_level``, ``in_transaction``. These
classes give it that API over :class:`~.client.Client` (sync code) or, in
async mode, over :class:`~.client.AsyncClient` through ``await_only`` (the
bridge), so Django's own connection, cursor and transaction code runs
unchanged on both. Errors are ``sqlite3``'s classes, which Django's error
wrapper turns into ``IntegrityError``, ``OperationalError``... as it does for
a local file.

A cursor built with Django's ``SQLiteCursorWrapper`` as ``factory`` converts
Django's ``%s``/``%(name)s`` placeholders with that class's own
``convert_query``. Declared ``date``/``time``/``datetime``/``timestamp``/
``bool`` columns are converted as Django's ``sqlite3`` connection converts
them (``converters.py``). Results come whole in one round trip (Hrana has no
server-side cursors; sqld caps a response at ``--max-response-size``, 10 MB
by default: iterate big querysets in chunks).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from itertools import tee
from typing import Any

from django.db.backends.sqlite3.base import SQLiteCursorWrapper

from ....bridge import await_only
from .client import AsyncClient, Client
from .converters import convert_rows, converters_for
from .protocol import Result

__all__ = ["Connection", "Cursor"]

_LIMITS = {
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 32766,
    sqlite3.SQLITE_LIMIT_COLUMN: 2000,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 500,
    sqlite3.SQLITE_LIMIT_LENGTH: 1_000_000_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 1_000_000_000,
}

_ENFORCED = (sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, sqlite3.SQLITE_LIMIT_COLUMN)
_CATEGORIES = range(12)  # SQLITE_LIMIT_LENGTH ... SQLITE_LIMIT_WORKER_THREADS


def _check_category(category: int) -> None:
    if category not in _CATEGORIES:
        raise sqlite3.ProgrammingError("'category' is out of bounds")


def _check_variables(connection: Connection, params: Any) -> None:
    limit = connection._limits.get(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    if limit is not None and params is not None and len(params) > limit:
        raise sqlite3.OperationalError("too many SQL variables")


class _Awaiting:
    """:class:`AsyncClient`'s methods, called from the bridge."""

    __slots__ = ("client",)

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    def execute(self, sql: str, params: Any = None, begin: str | None = None) -> Result:
        return await_only(self.client.execute(sql, params, begin))

    def executemany(
        self, sql: str, seq: Sequence[Any], begin: str | None = None
    ) -> Result:
        return await_only(self.client.executemany(sql, seq, begin))

    def commit(self) -> None:
        await_only(self.client.commit())

    def rollback(self) -> None:
        await_only(self.client.rollback())

    def close(self) -> None:
        await_only(self.client.close())


class Connection:
    """``sqlite3.Connection``'s API for a remote libSQL database."""

    def __init__(
        self, client: Client | AsyncClient, transaction_mode: str | None
    ) -> None:
        self.raw = client
        self._client: Any = (
            _Awaiting(client) if isinstance(client, AsyncClient) else client
        )
        # None: autocommit. A string: sqlite3's legacy mode, where a
        # transaction begins implicitly before a statement (Django's
        # set_autocommit(False)).
        self.isolation_level: str | None = None
        self.transaction_mode = transaction_mode
        self.row_factory = None
        self._limits: dict[int, int] = {}

    def __repr__(self) -> str:
        return f"<libsql remote Connection {self.raw.where!r}>"

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def _begin(self) -> str | None:
        if self.isolation_level is None:
            return None
        mode = self.isolation_level or self.transaction_mode
        return f"BEGIN {mode}" if mode else "BEGIN"

    def getlimit(self, category: int) -> int:
        """SQLite's default limits, which sqld is built with (Django reads
        the number of parameters and of columns a statement may have), or
        the lower one :meth:`setlimit` set on this connection."""
        _check_category(category)
        return self._limits.get(category, _LIMITS.get(category, 2**31 - 1))

    def setlimit(self, category: int, limit: int) -> int:
        """Lower (or restore) a limit for this connection; the old one.

        As ``sqlite3``: a negative limit changes nothing, one above the
        server's is the server's. Hrana cannot set a limit on the server, so
        the connection enforces it before a statement is sent (the number
        of parameters) or when its rows arrive (the number of result
        columns), with ``sqlite3``'s errors; other limits cannot be lowered.
        """
        old = self.getlimit(category)
        if category not in _ENFORCED:
            raise sqlite3.NotSupportedError(
                "only SQLITE_LIMIT_VARIABLE_NUMBER and SQLITE_LIMIT_COLUMN can "
                "be lowered on a libSQL server connection"
            )
        if limit >= 0:
            self._limits[category] = min(limit, _LIMITS[category])
        return old

    def cursor(self, factory: Any = None) -> Cursor:
        return Cursor(
            self,
            convert=factory is not None and issubclass(factory, SQLiteCursorWrapper),
        )

    def execute(self, sql: str, params: Any = None) -> Cursor:
        return self.cursor().execute(sql, params)

    def executemany(self, sql: str, params: Any) -> Cursor:
        return self.cursor().executemany(sql, params)

    def commit(self) -> None:
        self._client.commit()

    def rollback(self) -> None:
        self._client.rollback()

    def close(self) -> None:
        self._client.close()


class Cursor:
    """``sqlite3.Cursor``'s API; all rows arrive with ``execute``."""

    is_server_side = False

    def __init__(self, connection: Connection, *, convert: bool = False) -> None:
        self.connection = connection
        self._convert = convert
        self.arraysize = 1
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._position = 0
        self._closed = False

    def _check_open(self) -> None:
        """sqlite3's error for a cursor used after ``close()`` (Django's
        ``with connection.cursor()`` closes it at the end of the block)."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed cursor.")

    def _done(self, result: Result) -> Cursor:
        limit = self.connection._limits.get(sqlite3.SQLITE_LIMIT_COLUMN)
        if limit is not None and len(result.description or ()) > limit:
            raise sqlite3.OperationalError("too many columns in result set")
        self.description = result.description
        self.rowcount, self.lastrowid = result.rowcount, result.lastrowid
        rows = result.rows
        converters = converters_for(result.decltypes) if rows else None
        if converters is not None:
            rows = convert_rows(rows, converters)
        self._rows, self._position = rows, 0
        return self

    def execute(self, sql: str, params: Any = None) -> Cursor:
        self._check_open()
        if self._convert and params is not None:
            names = list(params) if isinstance(params, Mapping) else None
            sql = SQLiteCursorWrapper.convert_query(self, sql, param_names=names)
        connection = self.connection
        _check_variables(connection, params)
        return self._done(connection._client.execute(sql, params, connection._begin()))

    def executemany(self, sql: str, seq_of_params: Any) -> Cursor:
        self._check_open()
        peek, seq_of_params = tee(iter(seq_of_params))
        first = next(peek, None)
        if self._convert:
            names = list(first) if isinstance(first, Mapping) else None
            sql = SQLiteCursorWrapper.convert_query(self, sql, param_names=names)
        params = list(seq_of_params)
        connection = self.connection
        if not params:
            return self._done(Result(None, [], 0, None))
        for each in params:
            _check_variables(connection, each)
        return self._done(
            connection._client.executemany(sql, params, connection._begin())
        )

    def executescript(self, script: str) -> Cursor:
        raise NotImplementedError("executescript() is not supported on a libSQL server")

    def fetchone(self) -> Any:
        self._check_open()
        if self._position >= len(self._rows):
            return None
        row = self._rows[self._position]
        self._position += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[Any]:
        self._check_open()
        size = self.arraysize if size is None else size
        rows = self._rows[self._position : self._position + size]
        self._position += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        self._check_open()
        rows = self._rows[self._position :]
        self._rows, self._position = [], 0
        return rows

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self._rows, self._position = [], 0
        self._closed = True

    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: int, column: int | None = None) -> None:
        pass
