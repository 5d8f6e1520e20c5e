"""A raw cursor returns declared date/time/bool columns as Django's SQLite does.

The same table and rows on Django's stock SQLite backend (``PARSE_DECLTYPES``
and Django's converters) and on a real sqld through the remote ENGINE: the
raw ``cursor.execute()`` results must be equal, types included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db.utils import ConnectionHandler

from tests.db.backends.libsql.helpers import libsql_suite, sync_wrapper
from tests.sqld import Sqld

pytestmark = libsql_suite

TABLE = (
    "CREATE TABLE conv (id integer PRIMARY KEY, dt datetime, ts TIMESTAMP, "
    "d date NULL, t time, b bool, n varchar(10), dec decimal(5, 2), x)"
)
ROWS = [
    (1, "2024-02-29 12:30:01.123456", "2020-01-01 00:00:00", "2024-02-29",
     "23:59:59.5", 1, "2024-02-29", "1.50", "2024-02-29"),
    (2, "2024-02-29 12:30:01+02:00", "not a date", None, "00:00", 0, None, None, 7),
    (3, None, None, None, None, None, "x", "2", None),
]  # fmt: skip
QUERIES = [
    "SELECT * FROM conv ORDER BY id",
    "SELECT dt, d AS renamed, date(d), b + 0 FROM conv ORDER BY id",
]


@pytest.fixture(scope="module")
def connections(server: Sqld) -> Iterator[tuple[Any, Any]]:
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )
    stock, remote = handler["default"], sync_wrapper(server.url)
    for connection in (stock, remote):
        with connection.cursor() as cursor:
            cursor.execute(TABLE)
            cursor.executemany(
                "INSERT INTO conv VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", ROWS
            )
    yield stock, remote
    stock.close()
    remote.close()


def _fetch(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


@pytest.mark.parametrize("sql", QUERIES)
def test_raw_cursor_converts_by_declared_type(connections: Any, sql: str) -> None:
    stock, remote = connections
    expected, got = _fetch(stock, sql), _fetch(remote, sql)
    assert got == expected
    assert [list(map(type, row)) for row in got] == [
        list(map(type, row)) for row in expected
    ]
