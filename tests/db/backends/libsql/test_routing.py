"""The read/write split on libSQL: an embedded replica for reads, the primary
(remote mode) for writes, through ``ReadYourWritesRouter``
(``django_async_backend.db.routers``) on a real sqld.

A replica connection that stays open lags until it syncs (a new one syncs
as ``libsql`` opens it), so lag is made visible on a connection kept open.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, router
from django.test.utils import override_settings

from django_async_backend.db import async_connections
from django_async_backend.db.routers import forget_writes
from django_async_backend.db.transaction import async_atomic
from tests.sqld import Sqld

from .helpers import libsql_suite

pytest.importorskip("libsql", reason="needs the libsql package (the [libsql] extra)")

pytestmark = libsql_suite

ROUTER = "django_async_backend.db.routers.ReadYourWritesRouter"
TABLE = "CREATE TABLE IF NOT EXISTS t_routing (id INTEGER PRIMARY KEY, s TEXT)"


def in_thread(fn: Any) -> Any:
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # handed back to the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


@pytest.fixture
def split(server: Sqld, tmp_path: Any) -> Iterator[None]:
    """``lprimary`` (remote) and ``lreplica`` (an embedded replica of it)."""
    entries = {
        "lprimary": {"ENGINE": "django_async_backend.db.backends.libsql",
                     "NAME": server.url},
        "lreplica": {"ENGINE": "django_async_backend.db.backends.libsql",
                     "NAME": str(tmp_path / "replica.db"), "SYNC_URL": server.url},
    }  # fmt: skip
    configured = connections.configure_settings({"default": {}, **entries})
    for alias in entries:
        connections.settings[alias] = configured[alias]

    def fresh_table() -> None:
        with connections["lprimary"].cursor() as cursor:
            cursor.execute(TABLE)
            cursor.execute("DELETE FROM t_routing")

    in_thread(fresh_table)
    try:
        with override_settings(
            DATABASE_ROUTERS=[ROUTER],
            ASYNC_BACKEND_READ_REPLICAS={"lprimary": ["lreplica"]},
        ):
            yield
    finally:
        for alias in entries:
            try:
                connections[alias].close()
            except Exception:
                pass
            del connections.settings[alias]


def read(alias: str) -> list[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT s FROM t_routing ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def write(alias: str, value: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("INSERT INTO t_routing (s) VALUES (%s)", [value])


def test_the_modes_dispatch_to_remote_and_replica(split):
    from django_async_backend.db.backends.libsql.base import LibSQLWrapperMixin
    from django_async_backend.db.backends.libsql.replica.base import (
        DatabaseWrapper as ReplicaWrapper,
    )

    assert isinstance(connections["lreplica"], ReplicaWrapper)
    assert not isinstance(connections["lprimary"], ReplicaWrapper)
    assert isinstance(connections["lreplica"], LibSQLWrapperMixin)


def test_request_mode_reads_go_to_the_primary_after_a_write(split):
    with override_settings(ASYNC_BACKEND_READ_YOUR_WRITES="request"):

        def main() -> tuple[Any, ...]:
            forget_writes()
            with connections["lprimary"].cursor() as cursor:
                cursor.execute(TABLE)
            connections["lreplica"].sync()
            before = router.db_for_read(None)  # no write yet in this request
            assert read("lreplica") == []  # the replica connection stays open
            write(router.db_for_write(None), "mine")
            after = router.db_for_read(None)
            seen_by_writer = read(after)
            # Another request (no writes of its own) reads the replica, which
            # has not synced on its open connection: the write is missing.
            forget_writes()
            other = router.db_for_read(None)
            seen_by_other = read(other)
            connections["lreplica"].sync()
            seen_after_sync = read(other)
            return before, after, seen_by_writer, other, seen_by_other, seen_after_sync

        before, after, mine, other, lagging, synced = in_thread(main)
    assert (before, after, other) == ("lreplica", "lprimary", "lreplica")
    assert mine == ["mine"]
    assert lagging == []
    assert synced == ["mine"]


def test_position_mode_syncs_the_replica_and_reads_there(split):
    """``has_replayed()`` on the replica syncs it (libsql 0.1.8 exposes no
    frame number); the primary's ``read_your_writes_position()`` comes from
    the remote wrapper: without it the router keeps "request" behaviour."""
    with override_settings(ASYNC_BACKEND_READ_YOUR_WRITES="position"):

        def main() -> tuple[str, list[str], bool, list[str]]:
            forget_writes()
            connections["lreplica"].sync()
            assert read("lreplica") == []
            write(router.db_for_write(None), "replayed")
            alias = router.db_for_read(None)
            seen = read(alias)
            write("lprimary", "second")
            replayed = connections["lreplica"].has_replayed(None)
            return alias, seen, replayed, read("lreplica")

        alias, seen, replayed, on_replica = in_thread(main)
    has_position = hasattr(connections["lprimary"], "read_your_writes_position")
    assert alias == ("lreplica" if has_position else "lprimary")
    assert seen == ["replayed"]
    assert replayed is True
    assert on_replica == ["replayed", "second"]


def test_async_read_your_writes_within_a_task(split):
    async def main() -> None:
        async with async_connections["lprimary"].cursor() as cursor:
            await cursor.execute(TABLE)

        async def request() -> tuple[str, list[str], str]:
            forget_writes()
            # The task's replica connection opens (and syncs) before the write.
            async with async_connections["lreplica"].cursor() as cursor:
                await cursor.execute("SELECT count(*) FROM t_routing")
            writer = router.db_for_write(None)  # as the ORM asks for a write
            async with async_atomic(using=writer):
                async with async_connections[writer].cursor() as cursor:
                    await cursor.execute(
                        "INSERT INTO t_routing (s) VALUES (%s)", ["async"]
                    )
                inside = router.db_for_read(None)  # in the primary's transaction
            alias = router.db_for_read(None)
            async with async_connections[alias].cursor() as cursor:
                await cursor.execute("SELECT s FROM t_routing")
                rows = [row[0] for row in await cursor.fetchall()]
            return alias, rows, inside

        with override_settings(ASYNC_BACKEND_READ_YOUR_WRITES="request"):
            alias, rows, inside = await asyncio.create_task(request())
        assert (alias, inside) == ("lprimary", "lprimary")
        assert rows == ["async"]

        async def fresh_request() -> tuple[str, list[str]]:
            forget_writes()
            alias = router.db_for_read(None)
            await async_connections["lreplica"].sync()
            async with async_connections[alias].cursor() as cursor:
                await cursor.execute("SELECT s FROM t_routing")
                return alias, [row[0] for row in await cursor.fetchall()]

        with override_settings(ASYNC_BACKEND_READ_YOUR_WRITES="request"):
            assert await asyncio.create_task(fresh_request()) == ("lreplica", ["async"])

    asyncio.run(main())
