"""What the peers get wrong, through Django: rollback, isolation, savepoints,
IntegrityError, writes outside atomic(), executemany atomicity."""

from __future__ import annotations

import asyncio

import pytest
from django.db import IntegrityError, connections, transaction

from django_async_backend.db.backends.libsql.remote.base import (
    DatabaseWrapper as RemoteWrapper,
)

from django_async_backend.db.backends.libsql.remote.client import Client

from .helpers import async_wrapper, libsql_suite, settings_for, sync_wrapper

pytestmark = libsql_suite


@pytest.fixture
def db(server):
    conn = sync_wrapper(server.libsql_url)
    with conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS facts")
        cursor.execute("CREATE TABLE facts (id INTEGER PRIMARY KEY, v INTEGER UNIQUE)")
    connections.settings["libsql"] = conn.settings_dict
    connections["libsql"] = conn
    yield conn
    conn.close()
    del connections["libsql"]
    del connections.settings["libsql"]


def values(conn):
    with conn.cursor() as cursor:
        cursor.execute("SELECT v FROM facts ORDER BY v")
        return [v for (v,) in cursor.fetchall()]


def insert(conn, v):
    with conn.cursor() as cursor:
        cursor.execute("INSERT INTO facts (v) VALUES (%s)", [v])


def test_dispatch_picks_remote(db):
    assert isinstance(db, RemoteWrapper)


def test_autocommit_writes_are_committed(db, server):
    insert(db, 1)
    other = sync_wrapper(server.libsql_url)
    try:
        assert values(other) == [1]
    finally:
        other.close()


def test_rollback_undoes(db):
    db.set_autocommit(False)
    insert(db, 1)
    db.rollback()
    db.set_autocommit(True)
    assert values(db) == []


def test_uncommitted_rows_are_invisible(db, server):
    other = sync_wrapper(server.libsql_url)
    try:
        db.set_autocommit(False)
        insert(db, 7)
        assert values(db) == [7]
        assert values(other) == []
        db.commit()
        db.set_autocommit(True)
        assert values(other) == [7]
    finally:
        other.close()


def test_atomic_rollback_and_savepoints(db):
    with pytest.raises(ZeroDivisionError), transaction.atomic(using="libsql"):
        insert(db, 1)
        1 / 0
    assert values(db) == []
    with transaction.atomic(using="libsql"):
        insert(db, 1)
        with pytest.raises(ZeroDivisionError), transaction.atomic(using="libsql"):
            insert(db, 2)
            1 / 0
        with transaction.atomic(using="libsql"):
            insert(db, 3)
    assert values(db) == [1, 3]


def test_integrity_error_inside_atomic_rolls_back_the_block(db):
    with pytest.raises(IntegrityError), transaction.atomic(using="libsql"):
        insert(db, 1)
        insert(db, 1)
    assert values(db) == []


def test_integrity_error_raised_and_transaction_usable(db):
    insert(db, 1)
    with pytest.raises(IntegrityError, match="UNIQUE"):
        insert(db, 1)
    db.set_autocommit(False)
    insert(db, 2)
    with pytest.raises(IntegrityError):
        insert(db, 2)
    insert(db, 3)  # SQLite keeps the transaction after a failed statement
    db.commit()
    db.set_autocommit(True)
    assert values(db) == [1, 2, 3]


def test_executemany_is_one_atomic_batch(db):
    with db.cursor() as cursor:
        with pytest.raises(IntegrityError):
            cursor.executemany("INSERT INTO facts (v) VALUES (%s)", [[1], [2], [2], [3]])
    assert values(db) == []
    with db.cursor() as cursor:
        cursor.executemany("INSERT INTO facts (v) VALUES (%s)", [[1], [2], [3]])
        assert cursor.rowcount == 3
    assert values(db) == [1, 2, 3]


def test_async_connection_rollback(server, db):
    asyncio.run(_async_rollback(server, db))


async def _async_rollback(server, db):
    async with async_wrapper(server.libsql_url) as face:
        async with face.cursor() as cursor:
            await cursor.execute("INSERT INTO facts (v) VALUES (%s)", [10])
        await face.set_autocommit(False)
        async with face.cursor() as cursor:
            await cursor.execute("INSERT INTO facts (v) VALUES (%s)", [11])
            other_sees = _peek(server)
        await face.rollback()
        await face.set_autocommit(True)
    assert other_sees == [10]
    assert _peek(server) == [10]


def _peek(server):
    client = Client(settings_for(server.url))
    try:
        return [v for (v,) in client.execute("SELECT v FROM facts ORDER BY v").rows]
    finally:
        client.close()
