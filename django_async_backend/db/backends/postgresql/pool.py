"""Connection pools for async connections: one per alias per event loop.

``OPTIONS["pool"]`` means what it means to Django's own backend (``True`` or
a dict of pool arguments), and is served by ``psycopg_pool``'s
``AsyncConnectionPool``. An async pool belongs to the event loop that created
it, hence one per loop. A pool is replaced when the alias's connection
settings change (Django's test runner renames the database; tests override
``TIME_ZONE``).
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ...bridge import greenlet_spawn, start_eagerly
from ...loop_shutdown import on_loop_shutdown
from .driver import (
    AwaitingConnection,
    AwaitingPool,
    async_connect_kwargs,
    check_not_closed,
    server_closed,
    watch_for_goodbye,
)

__all__ = ["close_pools", "existing_pool", "pool_for", "settings_generation"]

# Set by the backend itself; passing them in OPTIONS["pool"] is an error.
_RESERVED = {"conninfo", "kwargs", "connection_class", "open", "configure"}


class _Entry:
    __slots__ = ("connections", "facade", "signature")

    def __init__(
        self,
        facade: AwaitingPool,
        signature: tuple[Any, ...],
        connections: weakref.WeakSet[Any],
    ) -> None:
        self.facade = facade
        self.signature = signature
        # Every connection the pool opened (seen by its configure hook).
        self.connections = connections

    async def close(self, *, final: bool = False) -> None:
        """Close the pool, and the connections its own close() left open.

        At event loop shutdown (``final``) asyncio has already cancelled the
        pool's worker tasks (psycopg_pool's close() stops when it awaits them)
        and possibly a task returning a connection: every connection the pool
        opened is closed here, since no task can use one any more. Otherwise,
        as psycopg does, connections tasks still hold are closed when they
        come back.
        """
        self.facade.queue.close()
        try:
            await self.facade.raw.close()
        except (Exception, asyncio.CancelledError):
            pass
        in_use = () if final else self.facade.checked_out
        for raw in list(self.connections):
            if not raw.closed and raw not in in_use:
                await raw.close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Entry]] = (
    weakref.WeakKeyDictionary()
)


class _Generation:
    """Bumped when settings that pools capture (time zone) change."""

    value = 0


settings_generation = _Generation()


def _signature(wrapper: Any) -> tuple[Any, ...]:
    s = wrapper.settings_dict
    return (
        s["NAME"],
        s["USER"],
        s["PASSWORD"],
        s["HOST"],
        s["PORT"],
        s.get("TIME_ZONE"),
        repr(s["OPTIONS"]),
        settings_generation.value,
    )


def _pool_class() -> Any:
    try:
        from psycopg_pool import AsyncConnectionPool
    except ImportError as exc:
        raise ImproperlyConfigured(
            "DATABASES[...]['OPTIONS']['pool'] needs the psycopg_pool package. "
            "Install it with: pip install 'psycopg[pool]'"
        ) from exc
    return AsyncConnectionPool


def validate_pool_options(alias: str, settings_dict: dict[str, Any]) -> dict[str, Any]:
    """Check ``OPTIONS["pool"]``; return the pool keyword arguments.

    Raises ``ImproperlyConfigured`` naming the setting and the fix for a
    wrong type, an unknown or reserved key, persistent connections, or a
    missing ``psycopg_pool``.
    """
    where = f"DATABASES[{alias!r}]['OPTIONS']['pool']"
    options = settings_dict["OPTIONS"].get("pool")
    if options is True:
        options = {}
    elif not isinstance(options, dict):
        raise ImproperlyConfigured(
            f"{where} must be True or a dict of psycopg_pool arguments "
            f"(e.g. {{'min_size': 2, 'max_size': 10}}), not {options!r}."
        )
    max_age = settings_dict.get("CONN_MAX_AGE", 0)
    if max_age != 0:
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}] combines {where} with CONN_MAX_AGE="
            f"{max_age!r}: a pool already keeps connections open. Set "
            f"CONN_MAX_AGE to 0, or remove the pool option to use persistent "
            f"connections instead."
        )
    pool_class = _pool_class()
    accepted = set(inspect.signature(pool_class.__init__).parameters) - {"self"}
    for key in options:
        if key in _RESERVED:
            raise ImproperlyConfigured(
                f"{where} sets {key!r}, which the backend sets itself. Remove it "
                f"(connection arguments go in DATABASES[{alias!r}]['OPTIONS'])."
            )
        if key not in accepted:
            valid = ", ".join(sorted(accepted - _RESERVED))
            raise ImproperlyConfigured(
                f"{where} has an unknown key {key!r}. Valid keys: {valid}."
            )
    return dict(options)


def _create(wrapper: Any, signature: tuple[Any, ...]) -> _Entry:
    alias = wrapper.alias
    options = validate_pool_options(alias, wrapper.settings_dict)
    pool_class = _pool_class()
    connect_kwargs = async_connect_kwargs(wrapper.get_connection_params())
    # Pooled connections rest in autocommit; Django sets its own mode later.
    connect_kwargs["autocommit"] = True
    # CONN_HEALTH_CHECKS: a query per checkout, as Django's pool does. Without
    # it, still discard connections the server has visibly closed (a restart):
    # a socket poll, no round trip.
    if wrapper.settings_dict["CONN_HEALTH_CHECKS"]:
        options.setdefault("check", pool_class.check_connection)
    else:
        options.setdefault("check", check_not_closed)
    sweep = _StaleSweep(options["check"])
    options["check"] = sweep.check
    options.setdefault("name", f"django_async_backend:{alias}")
    server_binding = wrapper.settings_dict["OPTIONS"].get("server_side_binding") is True
    # A wrapper of its own, used only to configure new connections (time
    # zone, role) the way Django configures its pooled connections.
    configurer = type(wrapper)(wrapper.settings_dict, alias)
    configurer._enable_async_mode()
    opened: weakref.WeakSet[Any] = weakref.WeakSet()

    async def configure(raw: Any) -> None:
        opened.add(raw)
        watch_for_goodbye(raw)
        adapter = AwaitingConnection(raw, server_binding=server_binding)
        await greenlet_spawn(configurer._configure_connection, adapter)

    raw_pool = pool_class(
        kwargs=connect_kwargs, open=False, configure=configure, **options
    )
    sweep.pool = raw_pool
    facade = AwaitingPool(raw_pool, server_binding=server_binding)
    return _Entry(facade, signature, opened)


class _StaleSweep:
    """A pool's ``check``: when one connection is stale, drop them all at once.

    After a server restart every idle connection in the pool is dead, but
    psycopg_pool finds that out one checkout at a time and, within one
    checkout, backs off between tries (0, 1, 2 s...): with ten idle
    connections and a 3 s timeout the first few requests time out although
    the server is back. So the first checkout that finds a connection the
    server closed has the pool check all its idle connections
    (``AsyncConnectionPool.check()``: the dead are dropped and replaced) and
    then waits for a fresh one like any request at an exhausted pool.
    """

    __slots__ = ("_check", "_running", "pool")

    def __init__(self, check: Any) -> None:
        self._check = check
        self.pool: Any = None
        self._running: asyncio.Future[None] | None = None

    async def check(self, raw: Any) -> None:
        try:
            await self._check(raw)
        except Exception:
            if self.pool is not None and server_closed(raw):
                await self._sweep()
            raise

    async def _sweep(self) -> None:
        # One sweep at a time, in a task of its own: a request cancelled
        # while waiting must not cut pool.check() short, which would lose the
        # connections it has taken out of the pool.
        running = self._running
        if running is None:
            running = self._running = asyncio.ensure_future(self.pool.check())
            running.add_done_callback(self._swept)
        await asyncio.shield(running)

    def _swept(self, future: asyncio.Future[None]) -> None:
        self._running = None
        if not future.cancelled():
            future.exception()  # a failed sweep is only a missed shortcut


def pool_for(wrapper: Any) -> AwaitingPool | None:
    """The running loop's pool for ``wrapper``'s alias (None if not pooled)."""
    if not wrapper.settings_dict["OPTIONS"].get("pool"):
        return None
    loop = asyncio.get_running_loop()
    entries = _pools.get(loop)
    if entries is None:
        entries = _pools[loop] = {}
        on_loop_shutdown(_close_pools_at_shutdown)
    signature = _signature(wrapper)
    entry = entries.get(wrapper.alias)
    if entry is None or entry.signature != signature:
        if entry is not None:
            start_eagerly(entry.close())
        entry = entries[wrapper.alias] = _create(wrapper, signature)
    return entry.facade


def existing_pool(alias: str) -> Any:
    """The running loop's ``AsyncConnectionPool`` for ``alias``, if created."""
    entry = _pools.get(asyncio.get_running_loop(), {}).get(alias)
    return entry.facade.raw if entry is not None else None


async def close_pools(alias: str | None = None, *, final: bool = False) -> None:
    """Close the running loop's pools (all aliases, or one)."""
    entries = _pools.get(asyncio.get_running_loop(), {})
    aliases = [alias] if alias is not None else list(entries)
    closing = [entries.pop(a).close(final=final) for a in aliases if a in entries]
    await asyncio.gather(*closing)


async def _close_pools_at_shutdown() -> None:
    await close_pools(final=True)
