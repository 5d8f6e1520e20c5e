"""Who may use a connection right now: the rules for sharing one across tasks.

A connection belongs to one owner (a :class:`~.scope.ConnectionScope`, usually
one asyncio task). Other tasks reach it only by *joining* a transaction: a task
created inside an ``async_atomic`` block runs its queries inside that block's
transaction, on the same connection, instead of silently escaping it.

Sharing one connection is only correct if the users take turns at the right
granularity:

* one bridged call at a time (an ORM call may open and release savepoints; two
  interleaved ones would release each other's);
* an ``async_atomic`` block is a *frame*: while a task's frame is the innermost
  one, only that task (and tasks that joined that very frame) may use the
  connection, so a savepoint is never interleaved with another task's work;
* a joiner whose frame has ended must not run at all: its work would land
  outside the transaction it was started in.

The gate enforces exactly that. Waiting is FIFO-fair enough for this purpose:
every waiter is woken whenever the state changes and re-checks its turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django.db.transaction import TransactionManagementError

__all__ = ["RELEASER", "ConnectionGate", "Frame"]

RELEASER = object()
"""The holder used by connection clean-up; it ignores frames."""


class Frame:
    """One open ``async_atomic`` block (or an adopted outer transaction)."""

    __slots__ = ("active", "alias", "connection", "owner", "previous")

    def __init__(
        self, owner: Any, alias: str, connection: Any, previous: Any = None
    ) -> None:
        # ``owner`` is the scope that entered the block (``None`` for a
        # transaction lent by sync code); ``connection`` the async connection
        # it runs on, which tasks joining the frame share.
        self.owner = owner
        self.alias = alias
        self.connection = connection
        self.active = True
        # The value of the "open transactions" context variable before this
        # frame was entered, restored when it exits.
        self.previous = previous

    def __repr__(self) -> str:
        state = "active" if self.active else "ended"
        return f"<Frame alias={self.alias!r} {state}>"


class ConnectionGate:
    """Serialises the users of one connection (see the module docstring)."""

    __slots__ = ("_waiters", "base_frame_active", "depth", "frames", "holder")

    def __init__(self) -> None:
        self.holder: Any = None
        self.depth = 0
        self.frames: list[Frame] = []
        self._waiters: list[asyncio.Future[None]] = []
        # For a connection lent by sync code (see ``scope``): a callable telling
        # whether the sync transaction that joiners share is still open.
        self.base_frame_active: Callable[[], bool] | None = None

    # -- turn taking -------------------------------------------------------

    def _allowed(self, scope: Any, joined: Frame | None) -> bool:
        if self.holder is not None and self.holder is not scope:
            return False
        if scope is RELEASER or not self.frames:
            return True
        top = self.frames[-1]
        return top.owner is scope or top is joined

    def check_joined(self, joined: Frame | None, alias: str) -> None:
        """Raise if ``joined`` (the frame a task joined) has ended."""
        if joined is None:
            return
        alive = joined.active
        if alive and self.base_frame_active is not None and joined.owner is None:
            alive = self.base_frame_active()
        if not alive:
            raise TransactionManagementError(
                f"This task was started inside a transaction on database "
                f"{alias!r} and shares that transaction's connection, but the "
                f"transaction has ended: running this query would escape it. "
                f"Await the task before the async_atomic() block ends, or run "
                f"work that must not be part of the transaction under "
                f"async_connections.independent_connection()."
            )

    def try_enter(self, scope: Any, joined: Frame | None) -> bool:
        if self._allowed(scope, joined):
            self.holder = scope
            self.depth += 1
            return True
        return False

    async def enter(self, scope: Any, joined: Frame | None, alias: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.check_joined(joined, alias)
            if self.try_enter(scope, joined):
                return
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def leave(self, scope: Any) -> None:
        if self.holder is not scope:
            return
        self.depth -= 1
        if self.depth == 0:
            self.holder = None
            self._wake()

    def _wake(self) -> None:
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- frames ------------------------------------------------------------

    def push(self, frame: Frame) -> None:
        self.frames.append(frame)

    def pop(self, frame: Frame) -> None:
        frame.active = False
        if frame in self.frames:
            # Frames end in LIFO order; anything above ``frame`` was left open
            # by a task that died inside it, and ends with it.
            while self.frames:
                top = self.frames.pop()
                top.active = False
                if top is frame:
                    break
        self._wake()

    def end_all(self) -> None:
        """End every frame: the connection is going away."""
        for frame in self.frames:
            frame.active = False
        self.frames.clear()
        self._wake()
