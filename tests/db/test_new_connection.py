"""Independent connections (DEP 0009's new_connections) in all spellings."""

from __future__ import annotations

import asyncio

import pytest

from django_async_backend.db import (
    async_connections,
    async_new_connection,
    independent_connection,
)
from django_async_backend.db.transaction import async_atomic
from tests.app.models import Book

from ..conftest import (
    requires_concurrent_writers,
    requires_direct_connection,
    requires_postgresql,
)

# Fresh connections are told apart by pg_backend_pid(): not through PgBouncer.
pytestmark = [pytest.mark.async_django_db(transaction=True), requires_direct_connection]


async def pid() -> int:
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute("SELECT pg_backend_pid()")
        return (await cursor.fetchone())[0]


@requires_postgresql
async def test_context_manager_uses_fresh_connections_and_restores_the_callers():
    connection = async_connections["default"]
    mine = await pid()
    async with async_connections.independent_connection():
        assert async_connections["default"] is not connection
        assert await pid() != mine
    assert async_connections["default"] is connection
    assert await pid() == mine


@requires_postgresql
async def test_upstream_spellings():
    mine = await pid()

    # The upstream README's private name.
    async with async_connections._independent_connection():
        assert await pid() != mine

    # The upstream releases' async_new_connection: context manager...
    async with async_new_connection():
        assert await pid() != mine

    # ...decorator...
    @async_new_connection
    async def decorated(x):
        return x, await pid()

    value, other = await decorated(1)
    assert value == 1 and other != mine

    # ...and wrapper of a coroutine.
    assert await async_new_connection(pid()) != mine
    # The module-level alias.
    async with independent_connection():
        assert await pid() != mine
    with pytest.raises(TypeError, match="async function, or a coroutine"):
        async_new_connection(42)


@requires_postgresql
async def test_connections_are_released_when_the_block_ends(observer):
    async with async_connections.independent_connection():
        inner = await pid()
    assert await observer.settle(lambda o: inner not in {b[0] for b in o.backends()})


@requires_concurrent_writers
async def test_runs_outside_the_callers_transaction():
    async with async_atomic():
        await Book.objects.acreate(title="uncommitted")
        async with async_connections.independent_connection():
            # A fresh connection doesn't see the caller's uncommitted row.
            assert await Book.objects.acount() == 0
            await Book.objects.acreate(title="committed at once")
        assert await Book.objects.acount() == 2


@requires_postgresql
async def test_parallel_queries_each_on_their_own_connection():
    async def run_query():
        async with async_connections.independent_connection():
            return await pid()

    pids = await asyncio.gather(run_query(), run_query(), run_query())
    assert len(set(pids)) == 3


async def test_tasks_started_inside_get_their_own_connections_not_the_callers():
    async with async_atomic():
        outer = async_connections["default"]
        async with async_connections.independent_connection():

            async def child():
                return async_connections["default"]

            assert await asyncio.create_task(child()) is not outer


async def test_a_block_object_cannot_be_entered_twice_at_once():
    block = async_connections.independent_connection()
    async with block:
        with pytest.raises(RuntimeError, match="already active"):
            async with block:
                pass
