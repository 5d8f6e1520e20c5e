"""Request signals release connections (besides task end), like Django's
close_old_connections: not inside a transaction, and the connection objects
stay usable."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.test.utils import override_settings

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from tests.asgi import drive

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]


async def pid() -> int:
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute("SELECT pg_backend_pid()")
        return (await cursor.fetchone())[0]


def in_a_task(coroutine_function):
    """Run as an ordinary (unpinned) task, like a request handler."""

    async def run():
        return await asyncio.create_task(coroutine_function())

    return run


async def gone(observer, backend):
    return await observer.settle(lambda o: backend not in {b[0] for b in o.backends()})


async def test_request_finished_sent_on_the_loop(observer):
    @in_a_task
    async def handler():
        first = await pid()
        await request_finished.asend(sender=None)
        assert async_connections["default"].sync_wrapper.connection is None
        assert await gone(observer, first)
        return first, await pid()  # usable again: reconnects

    first, second = await handler()
    assert first != second


async def test_request_finished_sent_from_a_worker_thread(observer):
    @in_a_task
    async def handler():
        first = await pid()
        # Django's handlers send it through sync_to_async (response.close()).
        await sync_to_async(request_finished.send)(sender=None)
        assert await gone(observer, first)

    await handler()


async def test_request_started_resets_queries_and_releases(observer):
    @in_a_task
    async def handler():
        connection = async_connections["default"]
        with override_settings(DEBUG=True):
            first = await pid()
            assert connection.queries
            await request_started.asend(sender=None)
            assert connection.queries == []
        assert await gone(observer, first)

    await handler()


async def test_connections_inside_a_transaction_are_left_alone():
    @in_a_task
    async def handler():
        async with async_atomic():
            first = await pid()
            await request_finished.asend(sender=None)
            assert await pid() == first

    await handler()


async def test_setting_disables_request_signals():
    @in_a_task
    async def handler():
        with override_settings(ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS=True):
            first = await pid()
            await request_finished.asend(sender=None)
            assert await pid() == first

    await handler()


async def test_asgi_request_leaves_no_connection_behind(observer):
    """A request through Django's ASGI handler: the view's task ends and its
    connection is closed (no middleware involved)."""
    status, raw = await drive(ASGIHandler(), "/books/count")
    assert status == 200
    body = json.loads(raw)
    assert body["count"] == 0
    assert await gone(observer, body["pid"])
