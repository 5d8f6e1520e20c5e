"""Tasks queued at an exhausted pool, served by direct hand-off.

When every connection of a pool is in use, a task that needs one waits.
psycopg_pool can queue it, but then every released connection goes through
the pool on its way to the next task: ``putconn`` (the pool's lock, reset and
bookkeeping) and, on the waiting side, a waiting client with its condition
and timer. Under sustained load (more concurrent requests than connections,
the normal state of a busy server) that is every request.

So while the pool is exhausted, tasks queue here instead, first come, first
served, and a task that releases a clean connection hands it straight to the
task that has waited longest. Nobody is overtaken: a new task finding tasks
queued joins the end of the queue.

The pool still owns its connections: it opens new ones while it may grow,
replaces broken ones, closes expired ones. A connection it frees by those
means must reach the queue too, so while the queue is not empty one *scout*
waits in the pool's own queue on its behalf and passes on what it gets.

A waiting task that is cancelled, or whose ``timeout`` runs out, leaves the
queue; a connection handed to it in the meantime goes to the next one (or
back to the pool). Timing out raises psycopg_pool's ``PoolTimeout``, as the
pool would (Django reports it as ``OperationalError``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from psycopg.pq import TransactionStatus
from psycopg_pool import PoolClosed, PoolTimeout

__all__ = ["ExhaustedPoolQueue"]


class ExhaustedPoolQueue:
    """The queue of one ``AsyncConnectionPool`` (see the module docstring)."""

    __slots__ = ("_pool", "_scout", "_waiters")

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._scout: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """How many tasks are queued.

        A waiter that gives up leaves the queue as soon as it resumes; until
        then it is still counted (``offer`` skips it).
        """
        return len(self._waiters)

    def _exhausted(self) -> bool:
        stats = self._pool.get_stats()
        return stats["pool_available"] == 0 and stats["pool_size"] >= stats["pool_max"]

    async def checkout(self, timeout: float) -> Any:
        """A connection from the pool, queueing here while it is exhausted."""
        if not self._waiters and not self._exhausted():
            return await self._pool.getconn(timeout)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiters.append(future)
        self._start_scout()
        # A plain timer rather than asyncio.timeout(): this path runs for
        # every request while the pool is exhausted.
        timer = loop.call_later(timeout, _expire, future, timeout)
        try:
            connection = await future
        except BaseException:
            self._reclaim(future)
            raise
        finally:
            timer.cancel()
            if future in self._waiters:
                self._waiters.remove(future)
            if not self._waiters:
                self._stop_scout()
        return connection

    def _reclaim(self, future: asyncio.Future[Any]) -> None:
        """A waiter gives up: a connection handed to it meanwhile goes on."""
        if future.done() and not future.cancelled() and future.exception() is None:
            self._pass_on(future.result())

    def offer(self, connection: Any) -> bool:
        """Hand ``connection`` to the longest-waiting task, if there is one.

        The caller has cleaned it up (no transaction, no query running) and
        keeps nothing of it once this returns True.
        """
        if not self._waiters or not self._may_hand_over(connection):
            return False
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(connection)
                return True
        return False

    def _may_hand_over(self, connection: Any) -> bool:
        """Whether ``connection`` may skip the pool on its way to a waiter."""
        pool = self._pool
        if pool.closed or getattr(pool, "_reset", None) is not None:
            return False  # closing, or the pool resets returned connections
        if connection.closed or connection.broken:
            return False
        if connection.pgconn.transaction_status != TransactionStatus.IDLE:
            return False
        expire_at = getattr(connection, "_expire_at", None)  # max_lifetime
        return expire_at is None or expire_at > time.monotonic()

    def _pass_on(self, connection: Any) -> None:
        if not self.offer(connection):
            task = asyncio.get_running_loop().create_task(
                self._pool.putconn(connection)
            )
            _background.add(task)
            task.add_done_callback(_background.discard)

    # -- the scout -------------------------------------------------------------

    def _start_scout(self) -> None:
        if self._scout is None or self._scout.done():
            self._scout = asyncio.get_running_loop().create_task(self._scouting())

    def _stop_scout(self) -> None:
        scout, self._scout = self._scout, None
        if scout is not None and not scout.done():
            scout.cancel()

    async def _scouting(self) -> None:
        pool = self._pool
        while self._waiters:
            try:
                connection = await pool.getconn(pool.timeout)
            except PoolTimeout:
                continue
            except PoolClosed:
                return
            except Exception:
                await asyncio.sleep(0.05)
                continue
            if not self.offer(connection):
                await pool.putconn(connection)

    def close(self) -> None:
        """The pool is closing: fail the queued tasks, stop the scout."""
        self._stop_scout()
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(PoolClosed("the connection pool was closed"))


def _expire(future: asyncio.Future[Any], timeout: float) -> None:
    if not future.done():
        future.set_exception(
            PoolTimeout(f"couldn't get a connection after {timeout:.2f} sec")
        )


_background: set[asyncio.Task[Any]] = set()
