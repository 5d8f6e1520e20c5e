"""Read replicas: DATABASE_ROUTERS for async code and the native ORM, and the
read-your-writes router, on a real streaming replica (tests/db/conftest.py).

Lag is made visible by pausing the replica's replay (``pg_wal_replay_pause``):
a row written on the primary is then missing on the replica."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.test.utils import override_settings

from django_async_backend.db import async_connections
from django_async_backend.db.routers import ReadYourWritesRouter, forget_writes
from django_async_backend.db.transaction import async_atomic
from tests.app.models import Author, Book

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]

ROUTER = "django_async_backend.db.routers.ReadYourWritesRouter"


@contextmanager
def routed(mode: str = "request", retry: float = 5.0) -> Iterator[None]:
    with override_settings(
        DATABASE_ROUTERS=[ROUTER],
        ASYNC_BACKEND_READ_REPLICAS={"primary": ["replica"]},
        ASYNC_BACKEND_READ_YOUR_WRITES=mode,
        ASYNC_BACKEND_REPLICA_RETRY_SECONDS=retry,
    ):
        yield


async def in_task(coroutine: Any) -> Any:
    """Run in a task of its own: a new "request" with no writes of its own."""
    return await asyncio.create_task(coroutine)


def in_thread(fn: Any) -> Any:
    """Run sync code in a thread of its own (Django's sync path)."""
    result: list[Any] = []

    def run() -> None:
        try:
            forget_writes()
            result.append(fn())
        except BaseException as exc:  # handed back
            result.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


async def title_seen(pk: int) -> tuple[str | None, str | None]:
    """(title or None, the alias that served the read) in a fresh task."""

    async def read() -> tuple[str | None, str | None]:
        book = await Book.objects.filter(pk=pk).afirst()
        return (book.title, book._state.db) if book else (None, None)

    return await in_task(read())


async def test_writes_go_to_the_primary_reads_to_the_replica(replica_aliases):
    with routed():
        book = await in_task(Book.objects.acreate(title="routed"))
        assert book._state.db == "primary"
        replica_aliases.wait_replayed()
        assert await title_seen(book.pk) == ("routed", "replica")
        # Sync code, in a thread, is routed the same way.
        sync_book = in_thread(lambda: Book.objects.get(pk=book.pk))
        assert sync_book._state.db == "replica"
        assert in_thread(lambda: Book.objects.create(title="s")._state.db) == "primary"

        async def every_read_path() -> set[str]:
            aliases = {b._state.db async for b in Book.objects.all()}
            aliases.add((await Book.objects.aget(pk=book.pk))._state.db)
            aliases.add(Book.objects.all().db)
            return aliases

        assert await in_task(every_read_path()) == {"replica"}


async def test_lag_is_visible_to_other_requests_not_to_the_writer(replica_aliases):
    with routed():
        replica_aliases.pause_replay()
        try:

            async def write_then_read() -> tuple[str, str]:
                book = await Book.objects.acreate(title="mine")
                again = await Book.objects.aget(pk=book.pk)  # not missing
                return again.title, again._state.db

            assert await in_task(write_then_read()) == ("mine", "primary")
            # Another request reads the replica, which has not replayed it.
            assert await Book.objects.using("primary").acount() == 1
            assert await title_seen_count() == 0
        finally:
            replica_aliases.resume_replay()
        replica_aliases.wait_replayed()
        assert await title_seen_count() == 1


async def title_seen_count() -> int:
    return await in_task(Book.objects.acount())


async def test_position_mode_returns_to_the_replica_once_it_replayed(
    replica_aliases,
):
    with routed(mode="position"):
        replica_aliases.pause_replay()
        resumed = False
        try:

            async def request() -> list[str]:
                served = []
                book = await Book.objects.acreate(title="lsn")
                served.append((await Book.objects.aget(pk=book.pk))._state.db)
                served.append((await Book.objects.aget(pk=book.pk))._state.db)
                await asyncio.to_thread(replica_aliases.resume_replay)
                await asyncio.to_thread(replica_aliases.wait_replayed)
                served.append((await Book.objects.aget(pk=book.pk))._state.db)
                return served

            served = await in_task(request())
            resumed = True
        finally:
            if not resumed:
                replica_aliases.resume_replay()
        # While the replica lagged the writer read the primary; once it had
        # replayed past the write's position, the replica again.
        assert served == ["primary", "primary", "replica"]


async def test_reads_in_a_transaction_on_the_primary_stay_there(replica_aliases):
    with routed():

        async def request() -> tuple[int, str]:
            forget_writes()
            async with async_atomic("primary"):
                author = await Author.objects.using("primary").acreate(name="in tx")
                # No write of this request went through the router yet, but
                # the transaction is open on the primary.
                forget_writes()
                seen = await Author.objects.filter(pk=author.pk).afirst()
                return (1 if seen else 0), seen._state.db

        assert await in_task(request()) == (1, "primary")


async def test_a_replica_that_is_down_sends_reads_to_the_primary(replica_aliases):
    with routed(retry=0.2):
        book = await in_task(Book.objects.acreate(title="failover"))
        replica_aliases.wait_replayed()
        assert await title_seen(book.pk) == ("failover", "replica")
        replica_aliases.replica.stop("fast")
        try:
            # A new request: its connection to the replica cannot be opened.
            assert await title_seen(book.pk) == ("failover", "primary")
            assert await title_seen(book.pk) == ("failover", "primary")
        finally:
            replica_aliases.replica.start()
        await asyncio.sleep(0.3)  # the retry interval
        assert await title_seen(book.pk) == ("failover", "replica")


async def test_replicas_get_no_migrations(replica_aliases):
    with routed():
        assert router.allow_migrate("replica", "app") is False
        assert router.allow_migrate("primary", "app") is True


async def test_misconfiguration_is_a_clear_error():
    with override_settings(ASYNC_BACKEND_READ_REPLICAS=["replica"]):
        with pytest.raises(ImproperlyConfigured, match="ASYNC_BACKEND_READ_REPLICAS"):
            ReadYourWritesRouter()
    with override_settings(ASYNC_BACKEND_READ_REPLICAS={"default": ["nowhere"]}):
        with pytest.raises(ImproperlyConfigured, match="'nowhere'"):
            ReadYourWritesRouter()
    with override_settings(
        ASYNC_BACKEND_READ_REPLICAS={"default": ["other"]},
        ASYNC_BACKEND_READ_YOUR_WRITES="always",
    ):
        with pytest.raises(ImproperlyConfigured, match="READ_YOUR_WRITES"):
            ReadYourWritesRouter()


async def test_async_connections_keep_their_alias(replica_aliases):
    # Routers pick aliases for the ORM; an explicit alias is what it says.
    async with async_connections["replica"].cursor() as cursor:
        await cursor.execute("SELECT pg_is_in_recovery()")
        assert await cursor.fetchone() == (True,)
    async with async_connections["primary"].cursor() as cursor:
        await cursor.execute("SELECT pg_is_in_recovery()")
        assert await cursor.fetchone() == (False,)


async def test_mirror_on_a_real_replica_with_our_test_cases(replication):
    # Django's runner renames the mirror alias's NAME to the primary's test
    # database and keeps its HOST/PORT: on a real replica the test database
    # arrives by replication. Run in a process of its own (its own settings).
    completed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(Path(__file__).with_name("mirror_run.py")),
         str(replication.primary.port), str(replication.replica.port)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen["problems"] == []
    name, port, in_recovery = seen["replica_alias_reaches"]
    assert (name, port, in_recovery) == ("test_app", replication.replica.port, True)
    # The writer's own reads go to the primary (read-your-writes), in both
    # kinds of test case; in the rolled-back one the replica could not see
    # the row at all.
    assert seen["committed_case_child_task_reads"] == ["committed", "default"]
    assert seen["rolled_back_case_child_task_reads"] == ["uncommitted", "default"]
