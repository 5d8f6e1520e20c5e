"""``getlimit``/``setlimit`` on the remote DB-API connection.

Django reads ``SQLITE_LIMIT_VARIABLE_NUMBER`` (``features.max_query_params``,
``ops.bulk_batch_size``) and ``SQLITE_LIMIT_COLUMN`` (``last_executed_query``)
from the connection, and Django 6's tests lower them with ``setlimit``. Hrana
cannot set a limit on the server, so the connection enforces what it was
lowered to, with ``sqlite3``'s errors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.db import OperationalError, models

from tests.db.backends.libsql.helpers import libsql_suite, sync_wrapper
from tests.sqld import Sqld

pytestmark = libsql_suite

VARIABLES = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
COLUMNS = sqlite3.SQLITE_LIMIT_COLUMN


@pytest.fixture
def remote(server: Sqld) -> Iterator[Any]:
    connection = sync_wrapper(server.url)
    connection.ensure_connection()
    yield connection
    connection.close()


def _select(connection: Any, count: int) -> Any:
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["%s"] * count), list(range(count)))
        return cursor.fetchone()


def test_variable_limit_is_lowered_enforced_and_restored(remote: Any) -> None:
    raw = remote.connection
    default = raw.getlimit(VARIABLES)
    assert default == 32766  # sqld's build (SQLite's default)
    assert raw.setlimit(VARIABLES, 42) == default
    if django.VERSION >= (6,):  # Django 6 reads the limit from the connection
        assert remote.features.max_query_params == 42
        field = models.CharField()
        field.column = "name"
        assert remote.ops.bulk_batch_size([field, field], [object()]) == 21
    assert _select(remote, 42) == tuple(range(42))
    with pytest.raises(OperationalError, match="too many SQL variables"):
        _select(remote, 43)
    with remote.cursor() as cursor, pytest.raises(OperationalError):
        cursor.executemany("SELECT " + ", ".join(["%s"] * 43), [list(range(43))])
    assert raw.setlimit(VARIABLES, -1) == 42  # negative: unchanged
    assert raw.setlimit(VARIABLES, 10**9) == 42  # capped at the server's
    assert raw.getlimit(VARIABLES) == default
    assert _select(remote, 43) == tuple(range(43))


def test_column_limit_and_last_executed_query(remote: Any) -> None:
    raw = remote.connection
    raw.setlimit(COLUMNS, 3)
    try:
        with pytest.raises(OperationalError, match="too many columns"):
            _select(remote, 4)
        if django.VERSION >= (6,):
            # Django 6 quotes parameters in chunks of the column limit.
            sql = "SELECT MAX(" + ", ".join(["%s"] * 7) + ")"
            with remote.cursor() as cursor:
                text = remote.ops.last_executed_query(
                    cursor.cursor, sql, list(range(7))
                )
            assert text == "SELECT MAX(0, 1, 2, 3, 4, 5, 6)"
    finally:
        raw.setlimit(COLUMNS, 2000)
    assert len(_select(remote, 4)) == 4


def test_other_limits_cannot_be_lowered(remote: Any) -> None:
    raw = remote.connection
    with pytest.raises(sqlite3.NotSupportedError):
        raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10)
    with pytest.raises(sqlite3.ProgrammingError, match="out of bounds"):
        raw.getlimit(99)
