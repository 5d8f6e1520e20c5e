"""A timeout inside bridged code is a TimeoutError, not a cancellation.

asyncio.timeout() cancels internally and raises TimeoutError whose context
holds that CancelledError; the connection must not treat it as the task
being cancelled (closing the connection and raising CancelledError).
"""

from __future__ import annotations

import asyncio

import pytest

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic

pytestmark = pytest.mark.async_django_db(transaction=True)


async def timing_out() -> None:
    async with asyncio.timeout(0.01):
        await asyncio.Event().wait()


async def test_timeout_in_a_callback_is_a_timeout():
    connection = async_connections["default"]
    with pytest.raises(TimeoutError):
        await connection.on_commit(timing_out)  # runs at once: no transaction


async def test_timeout_in_an_on_commit_callback_keeps_the_connection():
    connection = async_connections["default"]
    with pytest.raises(TimeoutError):
        async with async_atomic():
            await connection.on_commit(timing_out)
    async with connection.cursor() as cursor:  # still usable
        await cursor.execute("SELECT 1")
        assert await cursor.fetchone() == (1,)
