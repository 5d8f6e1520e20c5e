"""Async transactions: ``async_atomic`` and friends.

``async_atomic`` drives Django's own ``Atomic`` through the bridge, on the
current task's connection, so nesting, savepoints, ``durable``,
``on_commit`` and ``set_rollback`` behave exactly as Django's ``atomic``
does, and ORM calls inside the block take part in the same transaction.

Each block is also a *frame* of its connection (see ``gate.py``): tasks
created inside the block join its transaction instead of escaping it, and take
turns with the block's own task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncContextDecorator, asynccontextmanager
from typing import Any, TypeVar, overload

from django.db import DEFAULT_DB_ALIAS
from django.db.transaction import Atomic

from .backends.base.wrapper import AsyncDatabaseWrapper
from .gate import Frame
from .handler import async_connections
from .scope import current_scope, open_frames

__all__ = [
    "AsyncAtomic",
    "aget_autocommit",
    "aset_autocommit",
    "async_atomic",
    "async_mark_for_rollback_on_error",
    "get_rollback",
    "on_commit",
    "set_rollback",
]

F = TypeVar("F", bound=Callable[..., Any])


def get_connection(using: str | None = None) -> AsyncDatabaseWrapper:
    """The current task's async connection for ``using``."""
    return async_connections[using or DEFAULT_DB_ALIAS]


class AsyncAtomic(AsyncContextDecorator):
    """An atomic block for async code; see :func:`async_atomic`."""

    def __init__(self, using: str | None, savepoint: bool, durable: bool) -> None:
        self.using = using
        self.savepoint = savepoint
        self.durable = durable
        # Django's Atomic keeps its state on the connection, so one instance
        # may be entered by many tasks and nested blocks at once.
        self.atomic = Atomic(using, savepoint, durable)

    def _recreate_cm(self) -> AsyncAtomic:
        return self

    async def __aenter__(self) -> AsyncAtomic:
        alias = self.using or DEFAULT_DB_ALIAS
        connection = get_connection(alias)
        frame = Frame(current_scope(), alias, connection, open_frames.get())
        await connection._run(self._enter, connection, frame)
        open_frames.set({**frame.previous, alias: frame})
        return self

    def _enter(self, connection: AsyncDatabaseWrapper, frame: Frame) -> None:
        # Runs in the bridge, holding the connection's turn: the frame is
        # pushed before any other task can take a turn.
        self.atomic.__enter__()
        connection.gate.push(frame)

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        alias = self.using or DEFAULT_DB_ALIAS
        frame = open_frames.get().get(alias)
        if frame is None or not frame.active:
            # Exited from another context than the one that entered (a test
            # harness running setup and teardown separately): use the
            # innermost block this task's scope opened on the connection.
            frame = _innermost_own_frame(alias)
        else:
            open_frames.set(frame.previous)
        connection: AsyncDatabaseWrapper = frame.connection
        await connection._run(
            self._exit, connection, frame, exc_type, exc_value, traceback
        )

    def _exit(
        self,
        connection: AsyncDatabaseWrapper,
        frame: Frame,
        exc_type: Any,
        exc_value: Any,
        traceback: Any,
    ) -> None:
        try:
            self.atomic.__exit__(exc_type, exc_value, traceback)
        finally:
            connection.gate.pop(frame)


def _innermost_own_frame(alias: str) -> Frame:
    scope = current_scope()
    connection = get_connection(alias)
    for frame in reversed(connection.gate.frames):
        if frame.owner is scope:
            return frame
    raise RuntimeError(
        f"async_atomic({alias!r}) is exiting, but no block it entered is open "
        f"on this task's connection."
    )


@overload
def async_atomic(using: F) -> F: ...
@overload
def async_atomic(
    using: str | None = None, savepoint: bool = True, durable: bool = False
) -> AsyncAtomic: ...
def async_atomic(
    using: Any = None, savepoint: bool = True, durable: bool = False
) -> Any:
    """Run a block in a transaction: ``async with async_atomic(): ...``.

    Also a decorator, bare (``@async_atomic``) or called
    (``@async_atomic(using="other")``). Nested blocks create savepoints
    (``savepoint=False`` skips them); ``durable=True`` raises
    ``RuntimeError`` if the block is nested in another one.
    """
    if callable(using):
        return AsyncAtomic(DEFAULT_DB_ALIAS, savepoint, durable)(using)
    return AsyncAtomic(using, savepoint, durable)


@asynccontextmanager
async def async_mark_for_rollback_on_error(
    using: str | None = None,
) -> AsyncIterator[None]:
    """Mark the transaction for rollback if the block raises a database error.

    The async twin of Django's ``mark_for_rollback_on_error``: for code that
    runs queries inside an ``async_atomic`` block without a savepoint of its
    own and lets errors propagate.
    """
    try:
        yield
    except Exception as exc:
        connection = get_connection(using)
        if connection.in_atomic_block:
            connection.needs_rollback = True
            connection.sync_wrapper.rollback_exc = exc
        raise


async def on_commit(
    func: Callable[[], Any], using: str | None = None, robust: bool = False
) -> None:
    """Register ``func`` to run after the current transaction commits."""
    await get_connection(using).on_commit(func, robust)


def get_rollback(using: str | None = None) -> bool:
    """The rollback flag of the current task's innermost atomic block."""
    return get_connection(using).get_rollback()


def set_rollback(rollback: bool, using: str | None = None) -> None:
    """Set the rollback flag of the current task's innermost atomic block."""
    get_connection(using).set_rollback(rollback)


async def aget_autocommit(using: str | None = None) -> bool:
    """The autocommit state of the current task's connection."""
    return await get_connection(using).get_autocommit()


async def aset_autocommit(autocommit: bool, using: str | None = None) -> None:
    """Enable or disable autocommit on the current task's connection."""
    await get_connection(using).set_autocommit(autocommit)
