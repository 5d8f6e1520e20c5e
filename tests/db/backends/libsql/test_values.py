"""Values are exact both ways, on the sync and the async client."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import uuid

import pytest

from django_async_backend.db.backends.libsql.remote.client import AsyncClient, Client

from .helpers import libsql_suite, settings_for

pytestmark = libsql_suite

VALUES = [
    2**63 - 1,
    -(2**63),
    2**31 + 1,
    0,
    1.5,
    -0.1,
    1e300,
    "unicode ✓ 'quoted'",
    "",
    b"\x00\xffbinary\x00",
    b"",
    None,
]


def test_sync_round_trip(server):
    client = Client(settings_for(server.url))
    try:
        for value in VALUES:
            (got,) = client.execute("SELECT ?", [value]).rows[0]
            assert got == value and type(got) is type(value), value
        assert client.execute("SELECT typeof(?)", [2**63 - 1]).rows == [("integer",)]
    finally:
        client.close()


def test_async_round_trip(server):
    asyncio.run(_async_round_trip(server))


async def _async_round_trip(server):
    client = AsyncClient(settings_for(server.url))
    try:
        for value in VALUES:
            (got,) = (await client.execute("SELECT ?", [value])).rows[0]
            assert got == value and type(got) is type(value), value
    finally:
        await client.close()


def test_adapted_types_bind_as_sqlite3_binds_them(server):
    client = Client(settings_for(server.url))
    try:
        moment = datetime.datetime(2024, 2, 29, 12, 30, 1, 123456)
        assert client.execute("SELECT ?", [moment]).rows == [(str(moment),)]
        assert client.execute("SELECT ?", [True]).rows == [(1,)]
        assert client.execute("SELECT ?", [decimal.Decimal("1.10")]).rows == [("1.10",)]
        with pytest.raises(Exception, match="binding parameter"):
            client.execute("SELECT ?", [uuid.uuid4()])
        with pytest.raises(OverflowError):
            client.execute("SELECT ?", [2**63])
    finally:
        client.close()


def test_lastrowid_and_rowcount_are_ints(server):
    client = Client(settings_for(server.url))
    try:
        client.execute("CREATE TABLE rowids (id INTEGER PRIMARY KEY, v)")
        result = client.execute("INSERT INTO rowids (id, v) VALUES (?, 1)", [2**62])
        assert result.lastrowid == 2**62 and type(result.lastrowid) is int
        assert client.execute("UPDATE rowids SET v = 2").rowcount == 1
        named = client.execute("SELECT :a + :b", {"a": 1, "b": 2})
        assert named.rows == [(3,)]
    finally:
        client.close()
