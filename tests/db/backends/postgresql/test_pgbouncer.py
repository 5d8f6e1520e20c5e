"""Through a real PgBouncer in transaction mode (pgbouncer.py), with the
README's settings: server-side cursors disabled, pooling left to PgBouncer
or a pool of ours on top of it.

The whole shared suite also runs through one (``scripts/test``'s PgBouncer
stage); these tests pin down what transaction mode changes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connections

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from tests.app.models import Book

from .pgbouncer import PgBouncer, find_pgbouncer

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    program = find_pgbouncer()
    if program is None:
        pytest.skip("needs pgbouncer (scripts/test installs Debian's package)")
    settings = connections.settings["default"]
    bouncer = PgBouncer(
        program,
        host=settings["HOST"] or "127.0.0.1",
        port=int(settings["PORT"] or 5432),
        user=settings["USER"] or "postgres",
        pool_size=4,
    )
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture
def bounced(pgbouncer: PgBouncer) -> Iterator[Any]:
    """An alias ``bounced``: the test database, through PgBouncer."""

    def configure(**extra: Any) -> str:
        entry = {
            **connections.settings["default"],
            "HOST": "127.0.0.1",
            "PORT": str(pgbouncer.port),
            "DISABLE_SERVER_SIDE_CURSORS": True,
            "TEST": {},
            **extra,
        }
        entry["OPTIONS"] = dict(entry.get("OPTIONS", {}), **extra.get("OPTIONS", {}))
        configured = connections.configure_settings({"default": {}, "bounced": entry})
        connections.settings["bounced"] = configured["bounced"]
        return "bounced"

    configure()
    try:
        yield configure
    finally:
        del connections.settings["bounced"]


def server_pid_changes(alias: str) -> Any:
    async def pid() -> int:
        async with async_connections[alias].cursor() as cursor:
            await cursor.execute("SELECT pg_backend_pid()")
            return (await cursor.fetchone())[0]

    return pid


async def test_a_transaction_stays_on_one_server_connection(bounced):
    # Transaction mode: the server connection is ours for one transaction.
    alias = bounced()
    pid = server_pid_changes(alias)
    async with async_atomic(alias):
        pids = {await pid() for _ in range(5)}
        await Book.objects.using(alias).acreate(title="through PgBouncer")
    assert len(pids) == 1
    try:
        async with async_atomic(alias):
            await Book.objects.using(alias).acreate(title="rolled back")
            raise RuntimeError
    except RuntimeError:
        pass
    titles = [b.title async for b in Book.objects.using(alias).all()]
    assert titles == ["through PgBouncer"]


async def test_aiterator_streams_without_server_side_cursors(bounced):
    alias = bounced()
    await Book.objects.using(alias).abulk_create(
        Book(title=f"b{n}") for n in range(250)
    )
    titles = [b.title async for b in Book.objects.using(alias).aiterator(100)]
    assert len(titles) == 250
    async with async_connections[alias].chunked_cursor() as cursor:
        assert not cursor.is_server_side
        await cursor.execute("SELECT count(*) FROM app_book")
        assert await cursor.fetchone() == (250,)


@pytest.mark.parametrize("pool", [None, {"min_size": 1, "max_size": 8}])
async def test_concurrent_transactions_lose_nothing(bounced, pool):
    # PgBouncer's pool has 4 server connections; 20 tasks, each in its own
    # transaction with a row lock, with or without a pool of ours on top.
    alias = bounced(OPTIONS={"pool": pool} if pool else {})
    counter = await Book.objects.using(alias).acreate(title="counter", pages=0)

    async def increment() -> None:
        async with async_atomic(alias):
            book = await (
                Book.objects.using(alias).select_for_update().aget(pk=counter.pk)
            )
            book.pages += 1
            await book.asave(using=alias, update_fields=["pages"])

    await asyncio.gather(*(asyncio.create_task(increment()) for _ in range(20)))
    await counter.arefresh_from_db(using=alias)
    assert counter.pages == 20
    await async_connections.close_pools()


async def test_pgbouncer_sees_no_client_of_ours_after_close_pools(bounced, pgbouncer):
    alias = bounced(OPTIONS={"pool": {"min_size": 2, "max_size": 4}})
    database = connections.settings[alias]["NAME"]

    def clients() -> list[Any]:
        with psycopg.connect(
            host="127.0.0.1",
            port=pgbouncer.port,
            user=pgbouncer.user,
            dbname="pgbouncer",
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,  # its console: simple queries
        ) as admin:
            cursor = admin.execute("SHOW CLIENTS")
            names = [column.name for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return [
            row
            for row in rows
            if row["database"] == database and row["port"] not in before
        ]

    before: set[int] = set()
    before = {client["port"] for client in clients()}  # earlier tests' own
    await asyncio.gather(*(server_pid_changes(alias)() for _ in range(4)))
    assert clients()
    await async_connections.close_pools()

    # A connection whose task has just ended is closed when it comes back
    # to the closed pool, a moment later.
    for _ in range(100):
        if not clients():
            break
        await asyncio.sleep(0.05)
    assert clients() == []
