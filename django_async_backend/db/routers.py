"""Read replicas with read-your-writes: a ``DATABASE_ROUTERS`` entry.

Django sends reads to replicas through a router's ``db_for_read``; the price
is replication lag: a user who has just written reads from a replica that
has not replayed the write yet, and sees their own change missing. This
router sends writes to the primary, reads to a replica, and **after the
current task (or request) wrote through the primary, its reads go to the
primary too**, either for the rest of the task/request (``"request"``) or,
with ``"position"``, until the replica has replayed past the write.

Settings::

    DATABASE_ROUTERS = ["django_async_backend.db.routers.ReadYourWritesRouter"]
    ASYNC_BACKEND_READ_REPLICAS = {"default": ["replica"]}   # primary: replicas
    ASYNC_BACKEND_READ_YOUR_WRITES = "request"               # or "position"
    ASYNC_BACKEND_REPLICA_RETRY_SECONDS = 5.0

Django's ORM asks the router in sync code, which the native async ORM runs
in the bridge, so the same router serves sync views, ``await
Book.objects.aget()`` and ``async for`` alike.

**Whose writes.** The state lives in a context variable: one per asyncio task
(an ASGI request is a task; tasks it starts after its first write share the
state), reset at Django's ``request_started`` (a thread serving WSGI
requests one after another). Reads inside an open transaction on the primary
go to the primary (a replica cannot see uncommitted rows).

**The position hook.** ``"position"`` asks the ENGINE, through two methods
of its sync ``DatabaseWrapper``, so other backends can plug in their own
notion of a replication position:

``read_your_writes_position()``
    on the primary, after the write: an opaque position at or after it
    (PostgreSQL: ``pg_current_wal_lsn()``);
``has_replayed(position)``
    on a replica: whether it has replayed up to ``position`` (PostgreSQL:
    ``pg_last_wal_replay_lsn()`` compared with it).

An ENGINE without them gets ``"request"`` behaviour.

**A replica that is down.** Before it hands out a replica, the router makes
sure the task's connection to it is open (no round trip when it is). If
connecting fails, the replica is skipped for ``ASYNC_BACKEND_REPLICA_RETRY_SECONDS``
and the read goes to the primary (the next replica first, if there are
several). A query already running on a replica when it goes away still
raises ``OperationalError``; the next reads fall back.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_started
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

from .bridge import in_bridge
from .scope import open_frames

__all__ = ["ReadYourWritesRouter", "forget_writes", "wrote"]

MODES = ("request", "position")


@dataclass
class _Writes:
    """What the current task or request wrote, per primary alias."""

    # alias -> the position to wait for (None: not known yet / don't wait)
    pending: dict[str, Any] = field(default_factory=dict)


_writes: contextvars.ContextVar[_Writes | None] = contextvars.ContextVar(
    "django_async_backend_writes", default=None
)
_down_until: dict[str, float] = {}


def _current(create: bool) -> _Writes | None:
    state = _writes.get()
    if state is None and create:
        state = _Writes()
        _writes.set(state)
    return state


def wrote(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Record a write through ``alias`` the router did not see (raw SQL)."""
    state = _current(create=True)
    assert state is not None
    state.pending.setdefault(alias, None)


def forget_writes(**_: Any) -> None:
    """Start afresh: reads may go to replicas again (a new request)."""
    _writes.set(None)


request_started.connect(forget_writes, dispatch_uid="django_async_backend.routers")


def _replicas_setting() -> dict[str, list[str]]:
    name = "ASYNC_BACKEND_READ_REPLICAS"
    value = getattr(settings, name, None)
    if (
        not isinstance(value, dict)
        or len(value) != 1
        or not all(
            isinstance(replicas, list | tuple)
            and replicas
            and all(isinstance(alias, str) for alias in replicas)
            for replicas in value.values()
        )
    ):
        raise ImproperlyConfigured(
            f"settings.{name} must map the primary alias to a list of replica "
            f"aliases, e.g. {{'default': ['replica']}}, not {value!r}."
        )
    for alias in [*value, *(a for replicas in value.values() for a in replicas)]:
        if alias not in connections.settings:
            raise ImproperlyConfigured(
                f"settings.{name} names {alias!r}, which is not in DATABASES."
            )
    return {primary: list(replicas) for primary, replicas in value.items()}


def _mode_setting() -> str:
    name = "ASYNC_BACKEND_READ_YOUR_WRITES"
    value = getattr(settings, name, "request")
    if value not in MODES:
        raise ImproperlyConfigured(
            f"settings.{name} must be 'request' (reads go to the primary for "
            f"the rest of the request after a write) or 'position' (until the "
            f"replica has replayed the write), not {value!r}."
        )
    return str(value)


def _may_do_io() -> bool:
    """Whether the router may run a query here: inside the bridge, or in
    sync code with no event loop running (Django's own thread path)."""
    if in_bridge():
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


class ReadYourWritesRouter:
    """Writes to the primary, reads to a replica unless the reader wrote."""

    def __init__(self) -> None:
        replicas = _replicas_setting()
        self.primary, self.replicas = next(iter(replicas.items()))
        self.mode = _mode_setting()
        self.retry_seconds = float(
            getattr(settings, "ASYNC_BACKEND_REPLICA_RETRY_SECONDS", 5.0)
        )

    # -- Django's router API ---------------------------------------------------

    def db_for_write(self, model: Any, **hints: Any) -> str:
        wrote(self.primary)
        return self.primary

    def db_for_read(self, model: Any, **hints: Any) -> str:
        instance = hints.get("instance")
        if instance is not None and instance._state.db == self.primary:
            return self.primary  # related objects of a row read from it
        if self._must_read_primary():
            return self.primary
        return self._replica() or self.primary

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        group = {self.primary, *self.replicas}
        if obj1._state.db in group and obj2._state.db in group:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if db in self.replicas:
            return False  # replicas get the schema by replication
        return None

    # -- read-your-writes ---------------------------------------------------

    def _must_read_primary(self) -> bool:
        if _in_transaction(self.primary):
            return True
        state = _current(create=False)
        if state is None or self.primary not in state.pending:
            return False
        if self.mode == "request" or not _may_do_io():
            return True
        position = state.pending[self.primary]
        primary = connections[self.primary]
        if position is None:
            get_position = getattr(primary, "read_your_writes_position", None)
            if get_position is None:
                return True
            position = state.pending[self.primary] = get_position()
        for alias in self.replicas:
            has_replayed = getattr(connections[alias], "has_replayed", None)
            if has_replayed is None or not self._usable(alias):
                continue
            try:
                caught_up = has_replayed(position)
            except OperationalError:
                self._mark_down(alias)
                continue
            if caught_up:
                del state.pending[self.primary]
                return False
        return True

    # -- replicas that are down ----------------------------------------------

    def _replica(self) -> str | None:
        candidates = list(self.replicas)
        random.shuffle(candidates)
        for alias in candidates:
            if self._usable(alias):
                return alias
        return None

    def _usable(self, alias: str) -> bool:
        if _down_until.get(alias, 0.0) > time.monotonic():
            return False
        if not _may_do_io():
            return True
        connection = connections[alias]
        if connection.connection is not None:
            return True
        try:
            connection.ensure_connection()
        except OperationalError:
            self._mark_down(alias)
            return False
        _down_until.pop(alias, None)
        return True

    def _mark_down(self, alias: str) -> None:
        _down_until[alias] = time.monotonic() + self.retry_seconds


def _in_transaction(alias: str) -> bool:
    """Whether the current task (or thread) has a transaction open there:
    an ``async_atomic`` block (the task's own or one it joined), or Django's
    ``atomic`` in sync code."""
    if alias in open_frames.get():
        return True
    if not _may_do_io():
        return False
    return bool(connections[alias].in_atomic_block)
