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

The gate enforces exactly that, first come first served: when the turn is
free, it goes to the longest-waiting user allowed to take it (the hand-off
happens before that user resumes, so a newcomer cannot overtake it).

Giving a connection back (to its pool, to the idle list) is one more user:
each release takes the turn as a holder of its own (a :class:`Releaser`),
ignoring frames, so two releases of one connection never overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django.db.transaction import TransactionManagementError

__all__ = ["ConnectionGate", "Frame", "Releaser"]


class Releaser:
    """The holder of one release of a connection.

    A new one per release: a shared holder would be re-entrant, and two
    releases of the same connection (a request's end and its task's end,
    say) could then both give the raw connection back.
    """

    __slots__ = ()


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


class _Waiter:
    __slots__ = ("future", "holder", "joined")

    def __init__(
        self, holder: Any, joined: Frame | None, future: asyncio.Future[None]
    ) -> None:
        self.holder = holder
        self.joined = joined
        self.future = future


class ConnectionGate:
    """Serialises the users of one connection (see the module docstring)."""

    __slots__ = ("_waiters", "base_frame_active", "depth", "frames", "holder")

    def __init__(self) -> None:
        self.holder: Any = None
        self.depth = 0
        self.frames: list[Frame] = []
        self._waiters: list[_Waiter] = []
        # For a connection lent by sync code (see ``scope``): a callable telling
        # whether the sync transaction that joiners share is still open.
        self.base_frame_active: Callable[[], bool] | None = None

    # -- turn taking -------------------------------------------------------

    def _allowed(self, holder: Any, joined: Frame | None) -> bool:
        """Whether ``holder`` may take the free turn, as far as frames go."""
        if isinstance(holder, Releaser) or not self.frames:
            return True
        top = self.frames[-1]
        return top.owner is holder or top is joined

    def _joined_alive(self, joined: Frame | None) -> bool:
        if joined is None:
            return True
        alive = joined.active
        if alive and self.base_frame_active is not None and joined.owner is None:
            alive = self.base_frame_active()
        return alive

    @staticmethod
    def _escape_error(alias: str) -> TransactionManagementError:
        return TransactionManagementError(
            f"This task was started inside a transaction on database "
            f"{alias!r} and shares that transaction's connection, but the "
            f"transaction has ended: running this query would escape it. "
            f"Await the task before the async_atomic() block ends, or run "
            f"work that must not be part of the transaction under "
            f"async_connections.independent_connection()."
        )

    def check_joined(self, joined: Frame | None, alias: str) -> None:
        """Raise if ``joined`` (the frame a task joined) has ended."""
        if not self._joined_alive(joined):
            raise self._escape_error(alias)

    @property
    def waiting(self) -> int:
        """How many users are queued for the turn."""
        return len(self._waiters)

    def try_enter(self, holder: Any, joined: Frame | None) -> bool:
        """Take the turn now if possible (re-entrant for its holder)."""
        if self.holder is holder:
            self.depth += 1
            return True
        # While the turn is free, no queued user is allowed to take it (it
        # would have been handed over): taking it overtakes nobody.
        if self.holder is None and self._allowed(holder, joined):
            self.holder = holder
            self.depth = 1
            return True
        return False

    async def enter(self, holder: Any, joined: Frame | None, alias: str) -> None:
        """Wait for the turn (first come, first served) and take it."""
        self.check_joined(joined, alias)
        if self.try_enter(holder, joined):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(holder, joined, future)
        self._waiters.append(waiter)
        try:
            await future
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif not future.cancelled() and future.exception() is None:
                # Handed the turn, then cancelled before resuming: pass it on.
                self.leave(holder)
            raise

    def leave(self, holder: Any) -> None:
        """Give back one level of the turn; hand it on when fully released."""
        if self.holder is not holder:
            return
        self.depth -= 1
        if self.depth == 0:
            self.holder = None
            self._hand_over()

    def _hand_over(self) -> None:
        """Give the free turn to the longest-waiting user allowed to take it.

        Users whose joined frame has ended get their error instead. Other
        users of the same holder (tasks acting for one scope) come along:
        the turn is re-entrant for them.
        """
        if self.holder is not None:
            return
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
            elif not self._joined_alive(waiter.joined):
                self._waiters.remove(waiter)
                alias = waiter.joined.alias if waiter.joined else "?"
                waiter.future.set_exception(self._escape_error(alias))
            elif self.holder is None and self._allowed(waiter.holder, waiter.joined):
                self._waiters.remove(waiter)
                self.holder = waiter.holder
                self.depth = 1
                waiter.future.set_result(None)
            elif self.holder is not None and waiter.holder is self.holder:
                self._waiters.remove(waiter)
                self.depth += 1
                waiter.future.set_result(None)

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
        self._hand_over()

    def end_all(self) -> None:
        """End every frame: the connection is going away."""
        for frame in self.frames:
            frame.active = False
        self.frames.clear()
        self._hand_over()
