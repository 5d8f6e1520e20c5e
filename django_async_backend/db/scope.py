"""Connection scopes: which connections the current asyncio task uses.

Each task gets its own connection per database alias, held in a
:class:`ConnectionScope`. The scope is found through a context variable holding
``(task, scope)``: a child task inherits its parent's context, sees a tuple
whose task is not itself, and gets a scope of its own. So
``asyncio.gather(...)`` of queries runs them on separate connections, in
parallel.

A scope also releases its connections when a request it served ends
(Django's request signals, see ``signals.py``), the same way.

Two things make a task use a connection it does not own:

* **Joining a transaction.** A task created inside an ``async_atomic`` block
  inherits the block's frame (the ``_open_frames`` context variable). On its
  first use of that alias it joins: it shares the block's connection and runs
  inside its transaction, taking turns through the connection's gate.
* **Borrowing a sync transaction.** Sync code inside ``transaction.atomic()``
  that calls into async code (``async_to_sync``, as Django's ``TestCase`` does
  for ``async def`` tests) expects that async code to run inside its
  transaction, as ``sync_to_async`` would. The sync wrapper publishes itself
  in ``_sync_transactions`` while it is in a transaction; tasks that inherit it
  run on that very connection.

A scope is released (connections closed or returned to the pool) when its task
ends, unless it is *pinned*: a test case pins one scope across its
``asyncSetUp``, test and ``asyncTearDown`` tasks so they share a transaction.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .bridge import start_eagerly
from .loop_shutdown import on_loop_shutdown

if TYPE_CHECKING:
    from .backends.base.wrapper import AsyncDatabaseWrapper
    from .gate import Frame

__all__ = [
    "ConnectionScope",
    "bind_scope",
    "current_scope",
    "current_task_or_raise",
    "delegate_scope",
    "existing_scope",
    "open_frames",
    "sync_transactions",
]

_scope_var: ContextVar[tuple[asyncio.Task[Any], ConnectionScope] | None] = ContextVar(
    "django_async_backend_scope", default=None
)
# Fallback when several tasks share one context object (``create_task(...,
# context=ctx)``, as IsolatedAsyncioTestCase does): the variable then names
# whichever task wrote it last.
_scopes_by_task: weakref.WeakKeyDictionary[asyncio.Task[Any], ConnectionScope] = (
    weakref.WeakKeyDictionary()
)

open_frames: ContextVar[dict[str, Frame]] = ContextVar(
    "django_async_backend_open_frames",
    default={},  # noqa: B039 (never mutated)
)
"""The innermost ``async_atomic`` frame per alias, as seen by this context."""

sync_transactions: ContextVar[dict[str, Any]] = ContextVar(
    "django_async_backend_sync_transactions",
    default={},  # noqa: B039
)
"""Sync wrappers (per alias) whose open transaction async code should join."""


class ConnectionScope:
    """The async connections used by one owner (a task or a pinned test)."""

    __slots__ = ("__weakref__", "closed", "faces", "joins", "loop", "owned", "pinned")

    def __init__(self, loop: asyncio.AbstractEventLoop, *, pinned: bool = False):
        self.loop = loop
        self.pinned = pinned
        self.closed = False
        self.faces: dict[str, AsyncDatabaseWrapper] = {}
        # Aliases whose connection this scope opened and must release.
        self.owned: set[str] = set()
        # Aliases reached by joining a frame (or a lent sync transaction).
        self.joins: dict[str, Frame] = {}

    def __repr__(self) -> str:
        kind = "pinned " if self.pinned else ""
        return f"<{kind}ConnectionScope aliases={sorted(self.faces)}>"

    def face(self, alias: str) -> AsyncDatabaseWrapper:
        """This scope's connection for ``alias``, attaching it on first use."""
        face = self.faces.get(alias)
        if face is None:
            face = self._attach(alias)
        else:
            joined = self.joins.get(alias)
            if joined is not None:
                face.gate.check_joined(joined, alias)
        return face

    def _attach(self, alias: str) -> AsyncDatabaseWrapper:
        from .handler import async_connections

        if self.closed:
            raise RuntimeError(
                "This connection scope was already closed: its "
                "independent_connection() block has ended."
            )
        frame = open_frames.get().get(alias)
        if frame is not None:
            # Started inside a block: join it. If it has ended, refuse; using a
            # fresh connection would run this work outside the transaction.
            face = frame.connection
            face.gate.check_joined(frame, alias)
            self.joins[alias] = frame
        else:
            lent = sync_transactions.get().get(alias)
            face = None
            if lent is not None:
                face = lent._lend_to_async()
            if face is not None:
                self.joins[alias] = face.base_frame
            else:
                face = async_connections.acquire(alias)
                self.owned.add(alias)
        self.faces[alias] = face
        return face

    def on_task_done(self, task: asyncio.Task[Any]) -> None:
        """Done callback of the owning task: release unless pinned."""
        _scopes_by_task.pop(task, None)
        if not self.pinned:
            self.release()

    def release(self) -> None:
        """The scope is finished: give back everything, starting right now.

        Owned connections are released (kept for the next task of the loop,
        or returned to their pool), joins dropped.
        """
        self.closed = True
        for alias in list(self.owned):
            # Forget it first: a finished scope releases a face once.
            start_eagerly(self._forget(alias)._release(final=True))
        for alias in list(self.joins):
            self._forget(alias)._unjoin()

    def release_at_request_boundary(self) -> None:
        """A request this scope served has ended (or a new one starts).

        Release the owned connections as at the task's end (kept for the next
        task of the loop, then returned to the pool), as Django's
        ``close_old_connections`` returns a thread's connections; the scope
        stays usable and opens a connection again on next use. Connections
        inside a transaction are left alone: the request's work is not over.
        """
        for alias in list(self.owned):
            face = self.faces[alias]
            if face.gate.frames or face.sync_wrapper.in_atomic_block:
                continue
            start_eagerly(self._forget(alias)._release(final=True))

    def _forget(self, alias: str) -> AsyncDatabaseWrapper:
        self.owned.discard(alias)
        self.joins.pop(alias, None)
        return self.faces.pop(alias)

    async def aclose(self) -> None:
        """Release everything and wait until it is done."""
        self.closed = True
        owned = [self._forget(alias) for alias in list(self.owned)]
        for alias in list(self.joins):
            self._forget(alias)._unjoin()
        results = await asyncio.gather(
            *(face._release(final=True) for face in owned), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


def current_task_or_raise() -> asyncio.Task[Any]:
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    if task is None:
        raise RuntimeError(
            "async_connections can only be used from an asyncio task (inside a "
            "running event loop). From sync code use django.db.connections."
        )
    return task


def existing_scope() -> ConnectionScope | None:
    """The scope visible in the current context, without creating one.

    Used by request signal receivers, which may run in another task or in a
    worker thread with a copy of the request task's context.
    """
    entry = _scope_var.get()
    return entry[1] if entry is not None else None


class _Delegation:
    """Lets tasks started during a bridged call act for the calling task."""

    __slots__ = ("active", "scope")

    def __init__(self, scope: ConnectionScope) -> None:
        self.scope = scope
        self.active = True


_delegation: ContextVar[_Delegation | None] = ContextVar(
    "django_async_backend_delegation", default=None
)


@contextmanager
def delegate_scope(scope: ConnectionScope | None) -> Iterator[None]:
    """While the block runs, tasks it starts use ``scope``'s connections.

    For async code awaited from *inside* a bridged call (``async def`` signal
    receivers, which Django runs with ``asyncio.gather``): the calling task
    holds its connection's turn until they finish, so they must act as that
    task or they would wait for it forever. The delegation ends with the
    block; a task still running afterwards falls back to its own scope.
    """
    if scope is None:
        yield
        return
    delegation = _Delegation(scope)
    token = _delegation.set(delegation)
    try:
        yield
    finally:
        delegation.active = False
        _delegation.reset(token)


def current_scope() -> ConnectionScope:
    """The scope of the current task, created on first use."""
    task = current_task_or_raise()
    entry = _scope_var.get()
    if entry is not None and entry[0] is task:
        return entry[1]
    delegation = _delegation.get()
    if delegation is not None and delegation.active:
        return delegation.scope
    scope = _scopes_by_task.get(task)
    if scope is None:
        scope = ConnectionScope(task.get_loop())
        _scopes_by_task[task] = scope
        task.add_done_callback(scope.on_task_done)
        _track(scope)
    _scope_var.set((task, scope))
    return scope


_live_scopes: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakSet[ConnectionScope]
] = weakref.WeakKeyDictionary()


def _track(scope: ConnectionScope) -> None:
    """Remember ``scope`` so its loop's shutdown can release it."""
    scopes = _live_scopes.get(scope.loop)
    if scopes is None:
        scopes = _live_scopes[scope.loop] = weakref.WeakSet()
        on_loop_shutdown(_release_leftovers)
    scopes.add(scope)


async def _release_leftovers() -> None:
    """At loop shutdown: release connections whose release never ran (tasks
    destroyed while pending, a test case torn down by an error)."""
    scopes = _live_scopes.pop(asyncio.get_running_loop(), weakref.WeakSet())
    leftovers = [
        scope
        for scope in scopes
        if any(scope.faces[alias].sync_wrapper.connection for alias in scope.owned)
    ]
    await asyncio.gather(
        *(scope.aclose() for scope in leftovers), return_exceptions=True
    )


def bind_scope(scope: ConnectionScope) -> ConnectionScope | None:
    """Make ``scope`` the current task's scope; return the previous one."""
    task = current_task_or_raise()
    _track(scope)
    entry = _scope_var.get()
    previous = _scopes_by_task.get(task)
    if previous is None and entry is not None and entry[0] is task:
        previous = entry[1]
    _scopes_by_task[task] = scope
    _scope_var.set((task, scope))
    return previous


def unbind_scope(previous: ConnectionScope | None) -> None:
    """Undo :func:`bind_scope`."""
    task = current_task_or_raise()
    if previous is None:
        _scopes_by_task.pop(task, None)
        _scope_var.set(None)
    else:
        _scopes_by_task[task] = previous
        _scope_var.set((task, previous))
