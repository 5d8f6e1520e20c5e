"""The fault injectors of a chaos run.

Each is a coroutine that runs beside the workload until ``stop`` is set:

* :func:`restart_server` at given moments, alternating ``pg_ctl`` modes
  fast and immediate (the blocking ``pg_ctl`` runs in a thread);
* :func:`terminate_backends`: a random client backend of the database,
  terminated every ``interval`` seconds, from a connection of its own;
* :class:`Canceller`: a share of the workload's tasks cancelled at a random
  point (decided per task, when it is started);
* :func:`bursts`: more tasks than the pool has connections, each holding one
  for a moment, so the pool is exhausted and requests wait or time out.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg

from django_async_backend.db import async_connections

from .workload import Ledger, Operation, allowed_error, error_name

__all__ = ["Canceller", "bursts", "restart_server", "terminate_backends"]


async def restart_server(
    cluster: Any, at: list[float], start: float, stop: asyncio.Event
) -> list[float]:
    """Restart at ``start + t`` for each ``t``; return when each was back up."""
    back_up: list[float] = []
    for n, offset in enumerate(at):
        delay = start + offset - time.monotonic()
        try:
            await asyncio.wait_for(stop.wait(), max(delay, 0))
            return back_up
        except TimeoutError:
            pass
        mode = "fast" if n % 2 == 0 else "immediate"
        await asyncio.to_thread(cluster.stop, mode)
        await asyncio.to_thread(cluster.start)
        back_up.append(time.monotonic())
    return back_up


async def terminate_backends(
    cluster: Any, dbname: str, interval: float, stop: asyncio.Event
) -> int:
    """Terminate one random client backend every ``interval`` s; count them."""
    terminated = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval)
            break
        except TimeoutError:
            pass
        try:
            admin = await psycopg.AsyncConnection.connect(
                **cluster.connect_kwargs(), connect_timeout=2
            )
            async with admin:
                cursor = await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid() ORDER BY random() LIMIT 1",
                    [dbname],
                )
                terminated += len(await cursor.fetchall())
        except psycopg.Error:
            pass  # the server is restarting
    return terminated


class Canceller:
    """Cancels ``rate`` of the tasks it starts, after a random delay."""

    def __init__(self, rng: random.Random, rate: float, within: float) -> None:
        self.rng = rng
        self.rate = rate
        self.within = within
        self.cancelled: set[asyncio.Task[Any]] = set()

    def start(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        if self.rng.random() < self.rate:
            delay = self.rng.uniform(0, self.within)
            asyncio.get_running_loop().call_later(delay, self._cancel, task)
        return task

    def _cancel(self, task: asyncio.Task[Any]) -> None:
        if not task.done():
            self.cancelled.add(task)
            task.cancel()

    def injected(self) -> Callable[[], bool]:
        """For the workload: whether the current task was cancelled here."""
        return lambda: asyncio.current_task() in self.cancelled


async def bursts(
    ledger: Ledger,
    size: int,
    hold: float,
    every: float,
    stop: asyncio.Event,
    sql: str,
) -> int:
    """Every ``every`` s, ``size`` tasks each holding a connection for
    ``hold`` s (``sql`` takes a parameter, the seconds); count the bursts."""
    count = 0

    async def hog(n: int) -> None:
        started = time.monotonic()
        try:
            async with async_connections["default"].cursor() as cursor:
                await cursor.execute(sql, [hold])
        except Exception as exc:
            ledger.add(
                Operation(
                    "burst",
                    f"burst{count}.{n}",
                    "failed",
                    started,
                    time.monotonic(),
                    error_name(exc),
                    False,
                    allowed_error(exc, False),
                )
            )
        else:
            ledger.add(
                Operation("burst", f"burst{count}.{n}", "ok", started, time.monotonic())
            )

    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            break
        except TimeoutError:
            pass
        count += 1
        await asyncio.gather(*(asyncio.create_task(hog(n)) for n in range(size)))
    return count
