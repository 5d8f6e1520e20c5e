"""Connections of finished tasks, kept ready for the next task.

Under an ASGI server every request is a task, and a task's connection is
released when it ends. Building a fresh connection object per task (Django's
wrapper and its helpers), connecting it (a pool checkout, Django's connection
set-up) and releasing it again costs more CPU than the query a typical request
runs. So a finished task's connection object goes onto a short LIFO list per
event loop and alias, and the next task picks it up:

* with its **pooled** connection still attached, when it was returned clean
  (idle, no transaction, no error): the next task queries at once. A
  connection that sits on the list longer than
  ``ASYNC_BACKEND_KEEP_CONNECTION_SECONDS`` (2 by default) goes back to
  psycopg's pool, so the pool's own idle and lifetime management (and
  its statistics) hold whenever load drops. While tasks are queued at the
  pool (it is exhausted), nothing is kept: a released connection goes back
  to the pool, which hands it to the task that has waited longest, so new
  requests cannot overtake queued ones (first come, first served);
* with its **persistent** connection attached (``CONN_MAX_AGE``, no pool),
  until ``close_at``: Django's persistent connections, per event loop instead
  of per thread;
* otherwise without a connection (``CONN_MAX_AGE = 0``): only the object is
  reused, and it connects on first use as usual.

A connection taken from the list is checked before use: the server must not
have closed it (a socket poll, no round trip), it must not be past its
expiry, and with ``CONN_HEALTH_CHECKS`` Django's own health check runs a
query, as it does for a persistent connection at the start of a request.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING

from .... import conf
from ... import bridge
from ...loop_shutdown import on_loop_shutdown

if TYPE_CHECKING:
    from .wrapper import AsyncDatabaseWrapper

__all__ = ["MAX_IDLE_PER_ALIAS", "drain", "put", "take"]

MAX_IDLE_PER_ALIAS = 64


class _Kept:
    """One loop's kept connection objects for one alias, oldest first."""

    __slots__ = ("entries", "timer")

    def __init__(self) -> None:
        self.entries: list[tuple[AsyncDatabaseWrapper, float]] = []
        self.timer: asyncio.TimerHandle | None = None

    def sweep(self) -> None:
        """Let go of connections kept too long; re-arm for the next one."""
        self.timer = None
        now = time.monotonic()
        keep = conf.keep_connection_seconds()
        remaining = []
        oldest_connected: float | None = None
        for face, kept_at in self.entries:
            sync = face.sync_wrapper
            if sync._kept_connection_expired(now - kept_at, keep):
                _discard(face)
                continue
            remaining.append((face, kept_at))
            if sync.connection is not None and oldest_connected is None:
                oldest_connected = kept_at
        self.entries[:] = remaining
        if oldest_connected is not None:
            delay = max(keep - (now - oldest_connected), 0.0) + 0.01
            self.timer = asyncio.get_running_loop().call_later(delay, self.sweep)


_idle: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Kept]] = (
    weakref.WeakKeyDictionary()
)


def _kept(alias: str) -> _Kept:
    loop = asyncio.get_running_loop()
    by_alias = _idle.get(loop)
    if by_alias is None:
        by_alias = _idle[loop] = {}
        on_loop_shutdown(_drain)
    kept = by_alias.get(alias)
    if kept is None:
        kept = by_alias[alias] = _Kept()
    return kept


def _discard(face: AsyncDatabaseWrapper) -> None:
    """Let ``face`` go: release its connection (to the pool, or close it)."""
    bridge.start_eagerly(face._release(final=True, reuse=False))


def take(alias: str, settings_dict: dict) -> AsyncDatabaseWrapper | None:
    """A ready connection object for ``alias``, or None."""
    entries = _kept(alias).entries
    if not entries:
        return None
    keep = conf.keep_connection_seconds()
    now = time.monotonic()
    while entries:
        face, kept_at = entries.pop()
        sync = face.sync_wrapper
        if (
            sync.settings_dict is not settings_dict  # the alias was reconfigured
            or sync._kept_connection_expired(now - kept_at, keep)
            or (
                sync.connection is not None
                and (
                    not sync._kept_connection_ok()
                    # Tasks queued at the pool come first: hand it to them.
                    or sync._others_wait_for_connection()
                )
            )
        ):
            _discard(face)
            continue
        face._prepare_for_new_owner()
        return face
    return None


def put(face: AsyncDatabaseWrapper) -> None:
    """Keep ``face`` (released by its task) for a later task."""
    kept = _kept(face.alias)
    entries = kept.entries
    if entries and entries[-1][0] is face:
        return  # released twice in a row: it is kept already
    if len(entries) >= MAX_IDLE_PER_ALIAS:
        _discard(entries.pop(0)[0])
    entries.append((face, time.monotonic()))
    if kept.timer is None and face.sync_wrapper.connection is not None:
        kept.sweep()


async def drain(alias: str | None = None) -> None:
    """Release the running loop's kept connections (all aliases, or one).

    ``close_pools()`` calls it first: a kept connection is checked out of its
    pool, so closing the pool alone would leave it open until its keep time
    ran out.
    """
    by_alias = _idle.get(asyncio.get_running_loop(), {})
    aliases = [alias] if alias is not None else list(by_alias)
    for name in aliases:
        kept = by_alias.pop(name, None)
        if kept is None:
            continue
        if kept.timer is not None:
            kept.timer.cancel()
        for face, _ in kept.entries:
            await face._release(final=True, reuse=False)


async def _drain() -> None:
    """Event loop shutdown: release every kept connection."""
    await drain()
    _idle.pop(asyncio.get_running_loop(), None)
