"""Tasks and transactions: work started in another task never escapes an
async_atomic block. It joins the block's transaction (and takes turns on its
connection) or fails with a clear error."""

from __future__ import annotations

import asyncio

import pytest
from django.db.transaction import TransactionManagementError

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from tests.app.models import Book

from ..conftest import requires_concurrent_writers, requires_readers_beside_writer

pytestmark = pytest.mark.async_django_db(transaction=True)


class Rollback(Exception):
    pass


async def titles() -> list[str]:
    async with async_connections.independent_connection():
        return sorted([b.title async for b in Book.objects.all()])


@requires_readers_beside_writer
async def test_gathered_work_inside_a_block_joins_its_transaction():
    with pytest.raises(Rollback):
        async with async_atomic():
            await asyncio.gather(
                *(Book.objects.acreate(title=f"b{i}") for i in range(5))
            )
            # The children's rows are in this transaction: visible here...
            assert await Book.objects.acount() == 5
            # ...but not to other connections before the commit.
            assert await titles() == []
            raise Rollback
    # And rolled back with it.
    assert await titles() == []

    async with async_atomic():
        await asyncio.gather(*(Book.objects.acreate(title=f"c{i}") for i in range(3)))
    assert await titles() == ["c0", "c1", "c2"]


async def test_children_see_the_blocks_uncommitted_rows():
    async with async_atomic():
        await Book.objects.acreate(title="parent")

        async def child():
            return [b.title async for b in Book.objects.all()]

        assert await asyncio.create_task(child()) == ["parent"]
        assert async_connections["default"].in_atomic_block


async def test_children_blocks_are_savepoints_taken_in_turn():
    async def child(i):
        try:
            async with async_atomic():
                await Book.objects.acreate(title=f"child {i}")
                await asyncio.sleep(0.01)  # others wait for this block
                if i % 2:
                    raise Rollback
        except Rollback:
            pass

    async with async_atomic():
        await asyncio.gather(*(child(i) for i in range(6)))
    assert await titles() == ["child 0", "child 2", "child 4"]


async def test_parent_waits_for_a_childs_block():
    order = []

    async def child(started):
        async with async_atomic():
            started.set()
            await asyncio.sleep(0.05)
            await Book.objects.acreate(title="child")
            order.append("child done")

    async with async_atomic():
        started = asyncio.Event()
        task = asyncio.create_task(child(started))
        await started.wait()
        # The child's savepoint is the innermost block: the parent's query
        # waits for it instead of interleaving with it.
        await Book.objects.acreate(title="parent")
        order.append("parent done")
        await task
    assert order == ["child done", "parent done"]
    assert await titles() == ["child", "parent"]


async def test_a_child_outliving_the_block_cannot_escape_it():
    started, resume = asyncio.Event(), asyncio.Event()

    async def child():
        await Book.objects.acreate(title="inside")
        started.set()
        await resume.wait()
        await Book.objects.acreate(title="escaped")

    async with async_atomic():
        task = asyncio.create_task(child())
        await started.wait()
    resume.set()
    with pytest.raises(TransactionManagementError, match="would escape it"):
        await task
    assert await titles() == ["inside"]


async def test_a_child_first_running_after_the_block_cannot_escape_it():
    async def child():
        await Book.objects.acreate(title="late")

    async with async_atomic():
        task = asyncio.create_task(child())
    with pytest.raises(TransactionManagementError, match="independent_connection"):
        await task
    assert await titles() == []


async def test_tasks_started_outside_blocks_use_their_own_connections():
    connection = async_connections["default"]

    async def child():
        return async_connections["default"]

    async with async_atomic():
        inside = await asyncio.create_task(child())
    outside = await asyncio.create_task(child())
    assert inside is connection  # joined
    assert outside is not connection


async def test_using_another_tasks_connection_object_inside_its_block_fails():
    connection = async_connections["default"]
    started, resume = asyncio.Event(), asyncio.Event()

    async def foreign():
        await resume.wait()
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT 1")

    task = asyncio.create_task(foreign())  # created outside the block
    async with async_atomic():
        resume.set()
        with pytest.raises(TransactionManagementError, match="another task"):
            await task
    del started


@requires_concurrent_writers
async def test_independent_connection_inside_a_block_commits_on_its_own():
    with pytest.raises(Rollback):
        async with async_atomic():
            await Book.objects.acreate(title="rolled back")
            async with async_connections.independent_connection():
                await Book.objects.acreate(title="audit log")
            raise Rollback
    assert await titles() == ["audit log"]
