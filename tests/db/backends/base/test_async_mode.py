"""One wrapper class, two modes: Django's guards pass only for async-mode
wrappers inside the bridge; sync code gets Django's stock behaviour."""

from __future__ import annotations

import asyncio
import os
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from django_async_backend.db import async_connections
from django_async_backend.db.bridge import greenlet_spawn
from tests.app.models import Book

pytestmark = pytest.mark.async_django_db(transaction=True)


async def test_sync_orm_from_async_code_still_raises_djangos_error():
    with pytest.raises(SynchronousOnlyOperation):
        list(Book.objects.all())
    with pytest.raises(SynchronousOnlyOperation):
        connections["default"].cursor()


async def test_async_mode_wrapper_outside_the_bridge_is_still_guarded():
    sync_face = async_connections["default"].sync_wrapper
    assert sync_face.in_async_mode
    with pytest.raises(SynchronousOnlyOperation):
        sync_face.cursor()
    with pytest.raises(SynchronousOnlyOperation):
        sync_face.ensure_connection()


async def test_stock_wrapper_inside_the_bridge_is_still_guarded():
    """The thread's own (sync-mode) wrapper never passes the guard."""
    thread_wrapper = connections["default"]  # outside the bridge: per thread

    def use_it():
        return thread_wrapper.cursor()

    with pytest.raises(SynchronousOnlyOperation):
        await greenlet_spawn(use_it)


async def test_inside_the_bridge_django_sees_the_tasks_connection():
    face = async_connections["default"]

    def inside():
        return connections["default"]

    assert await face._run(inside) is face.sync_wrapper

    async def other_task():
        return await async_connections["default"]._run(inside)

    assert await asyncio.create_task(other_task()) is not face.sync_wrapper


async def test_allow_async_unsafe_is_never_set():
    await Book.objects.acreate(title="x")
    assert "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ


async def test_sync_code_in_a_thread_is_stock_django():
    def sync_side():
        wrapper = connections["default"]
        assert not wrapper.in_async_mode
        assert type(wrapper.Database).__name__ == "module"  # psycopg itself
        Book.objects.create(title="sync")
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM app_book")
            count = cursor.fetchone()[0]
        wrapper.close()
        return count

    assert await asyncio.to_thread(sync_side) == 1
    assert await Book.objects.acount() == 1


async def test_guarded_function_patched_onto_djangos_base_class_passes():
    """Django's test cases replace ``BaseDatabaseWrapper.ensure_connection``
    with a function that calls the guarded original: inside the bridge, on
    the task's wrapper, that original passes its guard too."""
    original = BaseDatabaseWrapper.ensure_connection

    def patched(self, *args, **kwargs):
        return original(self, *args, **kwargs)

    BaseDatabaseWrapper.ensure_connection = patched
    try:

        def inside():
            wrapper = connections["default"]
            wrapper.ensure_connection()
            return wrapper.connection is not None

        assert await async_connections["default"]._run(inside)

        thread_wrapper = connections["default"]  # outside the bridge: per thread
        with pytest.raises(SynchronousOnlyOperation):
            await greenlet_spawn(thread_wrapper.ensure_connection)
    finally:
        BaseDatabaseWrapper.ensure_connection = original


async def test_lent_transaction_serves_the_async_orm():
    """Sync code in a transaction calling async code (``async_to_sync``): the
    a-methods run on the sync wrapper's connection, and Django's guarded
    ``create_cursor``, reached through ``super()``, passes for it."""

    async def count():
        return await Book.objects.acount()

    def sync_side():
        with transaction.atomic():
            Book.objects.create(title="uncommitted")
            seen = async_to_sync(count)()
            transaction.set_rollback(True)
        connections["default"].close()
        return seen

    assert await asyncio.to_thread(sync_side) == 1
    assert await Book.objects.acount() == 0


async def test_bound_method_taken_before_a_patch_keeps_the_original():
    """As on a stock wrapper: a method read before Django's base class is
    patched still calls the original (Django's own suite patches
    ``ensure_connection`` with a side effect that calls the real one)."""

    def sync_side():
        wrapper = connections["default"]
        real = wrapper.ensure_connection
        calls = []

        def side_effect():
            calls.append("patched")
            real()

        with mock.patch.object(
            BaseDatabaseWrapper, "ensure_connection", side_effect=side_effect
        ):
            wrapper.ensure_connection()
        opened = wrapper.connection is not None
        wrapper.close()
        return calls, opened

    # Before the fix: RecursionError (the method re-read the patched one).
    calls, opened = await asyncio.to_thread(sync_side)
    assert calls and opened


@pytest.mark.requires_temporary_tables
async def test_async_execute_wrappers_are_awaited():
    connection = async_connections["default"]
    seen = []

    async def log_sql(execute, sql, params, many, context):
        await asyncio.sleep(0)  # a wrapper may await anything
        seen.append(("async", sql, context["connection"]))
        return await execute(sql, params, many, context)

    def sync_inside(execute, sql, params, many, context):
        seen.append(("sync", sql, context["connection"]))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(log_sql), connection.execute_wrapper(sync_inside):
        async with connection.cursor() as cursor:
            await cursor.execute("CREATE TEMPORARY TABLE w (v int)")
            await cursor.execute("INSERT INTO w VALUES (1)")
            await cursor.execute("SELECT count(*) FROM w")
            assert await cursor.fetchone() == (1,)  # the INSERT ran
        book = await Book.objects.acreate(title="wrapped")  # RETURNING works
    assert await Book.objects.filter(pk=book.pk).aexists()
    async_sql = [sql for kind, sql, _ in seen if kind == "async"]
    assert async_sql == [sql for kind, sql, _ in seen if kind == "sync"]
    assert async_sql[:3] == [
        "CREATE TEMPORARY TABLE w (v int)",
        "INSERT INTO w VALUES (1)",
        "SELECT count(*) FROM w",
    ]
    assert "INSERT INTO" in async_sql[3]
    # Async wrappers get the async connection; sync ones Django's (sync) face,
    # which code in the bridge can use synchronously.
    assert {c for kind, _, c in seen if kind == "async"} == {connection}
    assert {c for kind, _, c in seen if kind == "sync"} == {connection.sync_wrapper}
    await Book.objects.all().adelete()


async def test_an_async_execute_wrapper_can_block_queries():
    connection = async_connections["default"]

    async def blocker(execute, sql, params, many, context):
        raise RuntimeError(f"not here: {sql}")

    async with connection.execute_wrapper(blocker):
        with pytest.raises(RuntimeError, match="not here: SELECT 1"):
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT 1")
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT 2")
        assert await cursor.fetchone() == (2,)
