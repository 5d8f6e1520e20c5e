"""The remote cursor behaves as ``sqlite3``'s once closed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import ProgrammingError

from tests.db.backends.libsql.helpers import libsql_suite, sync_wrapper
from tests.sqld import Sqld

pytestmark = libsql_suite


@pytest.fixture(scope="module")
def remote(server: Sqld) -> Iterator[Any]:
    connection = sync_wrapper(server.url)
    yield connection
    connection.close()


def test_cursor_is_closed_after_its_with_block(remote: Any) -> None:
    with remote.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    with pytest.raises(ProgrammingError, match="closed cursor"):
        cursor.execute("SELECT 1")
    for fetch in (cursor.fetchone, cursor.fetchmany, cursor.fetchall):
        with pytest.raises(ProgrammingError, match="closed cursor"):
            fetch()
    with pytest.raises(ProgrammingError, match="closed cursor"):
        cursor.executemany("SELECT %s", [(1,)])
    with remote.cursor() as other:  # the connection itself is still usable
        other.execute("SELECT 2")
        assert other.fetchone() == (2,)
