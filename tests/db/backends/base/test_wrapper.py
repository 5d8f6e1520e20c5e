"""The async face's life cycle (wrapper.py): releasing a connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from django_async_backend.db import async_connections
from django_async_backend.db.backends.base import idle
from django_async_backend.db.backends.postgresql.driver import AwaitingPool
from tests.pools import pooled

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]


@pytest.fixture
def held_give_back(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make giving a connection back to the pool wait for a signal.

    A release that reaches the pool suspends there, so a second release of
    the same connection started meanwhile overlaps it deterministically.
    """

    class Held:
        calls: list[Any] = []
        go = asyncio.Event()

    original = AwaitingPool.give_back

    async def give_back(self: AwaitingPool, raw: Any) -> None:
        Held.calls.append(raw)
        await Held.go.wait()
        await original(self, raw)

    monkeypatch.setattr(AwaitingPool, "give_back", give_back)
    return Held


async def connected_face() -> Any:
    face = async_connections.create_connection("default")
    async with face.cursor() as cursor:
        await cursor.execute("SELECT 1")
    return face


@pytest.mark.parametrize("first_final", [True, False], ids=["task-end", "request-end"])
@pytest.mark.parametrize("second_reuse", [True, False], ids=["keep", "give-back"])
async def test_overlapping_releases_give_the_connection_back_once(
    held_give_back: Any, first_final: bool, second_reuse: bool
) -> None:
    with pooled(max_size=2):
        face = await connected_face()
        raw = face.connection
        first = asyncio.create_task(face._release(final=first_final, reuse=False))
        await asyncio.sleep(0)
        second = asyncio.create_task(face._release(final=True, reuse=second_reuse))
        await asyncio.sleep(0.05)
        # The second release waits for the first instead of overlapping it:
        # it neither gives the connection back again nor keeps the object
        # while the pool may already hand the connection to another task.
        assert held_give_back.calls == [raw]
        assert not second.done()
        assert face not in [kept for kept, _ in idle._kept("default").entries]
        held_give_back.go.set()
        await asyncio.gather(first, second)
        assert held_give_back.calls == [raw]
        assert face.sync_wrapper.connection is None
        stats = async_connections.pool("default").get_stats()
        assert stats["pool_available"] == stats["pool_size"]
        await async_connections.close_pools()
