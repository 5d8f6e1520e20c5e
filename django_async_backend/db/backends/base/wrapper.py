"""The async face of a connection: what ``async_connections[alias]`` returns.

It holds the task's sync face (the ENGINE's Django wrapper in async mode) and
runs that wrapper's unchanged methods through the bridge. Transaction state
(``in_atomic_block``, ``savepoint_ids``, ``needs_rollback``, ``run_on_commit``)
lives on the sync face only and is read through here, so the ORM inside the
bridge and async code outside it always agree on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from django.db.transaction import TransactionManagementError

from ...bridge import greenlet_spawn
from ...gate import ConnectionGate, Frame, Releaser
from ...scope import ConnectionScope, current_scope, open_frames
from . import idle
from .cursor import AsyncCursorContext

__all__ = ["AsyncDatabaseWrapper"]

logger = logging.getLogger("django_async_backend")
T = TypeVar("T")


def _cancellation_in(exc: BaseException) -> asyncio.CancelledError | None:
    if isinstance(exc, asyncio.CancelledError):
        return exc
    # A CancelledError further down the context chain is the task's own only
    # while the task is being cancelled: asyncio.timeout() (and wait_for)
    # cancel internally, then uncancel() and raise TimeoutError, which
    # carries that CancelledError in its context.
    task = asyncio.current_task()
    if task is None or not task.cancelling():
        return None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, asyncio.CancelledError):
            return current
        seen.add(id(current))
        current = current.__context__
    return None


def _forward(name: str, doc: str, *, writable: bool = False) -> property:
    def get(self: AsyncDatabaseWrapper) -> Any:
        return getattr(self._sync, name)

    def set_(self: AsyncDatabaseWrapper, value: Any) -> None:
        setattr(self._sync, name, value)

    return property(get, set_ if writable else None, doc=doc)


class AsyncDatabaseWrapper:
    """One task's connection to one database alias, for async code."""

    def __init__(self, sync_wrapper: Any, *, lent: bool = False) -> None:
        self._sync = sync_wrapper
        self.gate = ConnectionGate()
        self._lent = lent
        self.base_frame: Frame | None = None
        if lent:
            self.base_frame = Frame(None, sync_wrapper.alias, self)
            self.gate.base_frame_active = sync_wrapper._lent_transaction_open

    def __repr__(self) -> str:
        return (
            f"<{type(self).__qualname__} vendor={self.vendor!r} "
            f"alias={self.alias!r}{' lent' if self._lent else ''}>"
        )

    # -- what Django's wrapper knows ------------------------------------------

    alias = _forward("alias", "The database alias.")
    settings_dict = _forward("settings_dict", "This alias's DATABASES entry.")
    vendor = _forward("vendor", "The database vendor, e.g. 'postgresql'.")
    display_name = _forward("display_name", "Human-readable vendor name.")
    features = _forward("features", "Django's DatabaseFeatures for the alias.")
    ops = _forward("ops", "Django's DatabaseOperations for the alias.")
    Database = _forward("Database", "The DB-API module errors come from.")
    queries_log = _forward("queries_log", "Logged queries (a deque).")
    queries_logged = _forward("queries_logged", "Whether queries are logged.")
    queries = _forward("queries", "Logged queries, as Django's `queries`.")
    force_debug_cursor = _forward(
        "force_debug_cursor", "Log queries even without DEBUG.", writable=True
    )
    in_atomic_block = _forward("in_atomic_block", "Inside an atomic block?")
    savepoint_ids = _forward("savepoint_ids", "Savepoints of open blocks.")
    atomic_blocks = _forward("atomic_blocks", "The open atomic blocks.")
    needs_rollback = _forward(
        "needs_rollback", "Whether the transaction must roll back.", writable=True
    )
    run_on_commit = _forward("run_on_commit", "Pending on_commit callbacks.")
    commit_on_exit = _forward("commit_on_exit", "Commit when the block ends?")
    autocommit = _forward("autocommit", "Django's view of autocommit.")
    errors_occurred = _forward("errors_occurred", "Errors since last commit?")
    closed_in_transaction = _forward(
        "closed_in_transaction", "Closed inside an atomic block?"
    )
    execute_wrappers = _forward("execute_wrappers", "Active execute wrappers.")
    timezone = _forward("timezone", "tzinfo of the connection.")
    timezone_name = _forward("timezone_name", "Time zone name.")

    @property
    def sync_wrapper(self) -> Any:
        """The Django wrapper (sync face) behind this connection."""
        return self._sync

    @property
    def connection(self) -> Any:
        """The raw driver connection (e.g. psycopg ``AsyncConnection``)."""
        raw = self._sync.connection
        return getattr(raw, "raw", raw)

    # -- running sync code on this connection -----------------------------------

    def _turn(self) -> tuple[ConnectionScope, Frame | None]:
        scope = current_scope()
        alias = self._sync.alias
        if scope.faces.get(alias) is self:
            return scope, scope.joins.get(alias)
        # A task using a connection object it got from another task.
        joined = open_frames.get().get(alias)
        if joined is not None and joined.connection is self:
            return scope, joined
        if self.gate.frames or self._lent:
            raise TransactionManagementError(
                f"This {alias!r} connection is inside a transaction of another "
                f"task. Get the connection with async_connections[{alias!r}] in "
                f"the task that uses it."
            )
        return scope, None

    async def _run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run sync ``fn`` in the bridge, holding this connection's turn."""
        scope, joined = self._turn()
        gate = self.gate
        if joined is not None:
            gate.check_joined(joined, self._sync.alias)
        if not gate.try_enter(scope, joined):
            await gate.enter(scope, joined, self._sync.alias)
        try:
            return await greenlet_spawn(fn, *args, **kwargs)
        except BaseException as exc:
            cancelled = _cancellation_in(exc)
            if cancelled is None:
                raise
            await self._settle_after_cancel()
            if cancelled is exc:
                raise
            raise asyncio.CancelledError(*cancelled.args) from exc
        finally:
            gate.leave(scope)

    @asynccontextmanager
    async def _holding_turn(self) -> AsyncIterator[None]:
        """Hold this connection's turn for a block of driver calls.

        For work that keeps the connection busy between awaits in async code
        (a ``COPY``): no other task's query may come in between. Entered and
        left as :meth:`_run` does for one bridged call.
        """
        scope, joined = self._turn()
        gate = self.gate
        if joined is not None:
            gate.check_joined(joined, self._sync.alias)
        if not gate.try_enter(scope, joined):
            await gate.enter(scope, joined, self._sync.alias)
        try:
            yield
        except BaseException as exc:
            if _cancellation_in(exc) is not None:
                await self._settle_after_cancel()
            raise
        finally:
            gate.leave(scope)

    async def _settle_after_cancel(self) -> None:
        """Leave no query running and no orphan transaction after a cancel.

        A single cancellation inside a transaction is handled by Django's own
        atomic exits (they roll back). What they cannot handle is a driver in
        an unknown state: a query still active, a broken connection, or a
        transaction the driver has but Django does not know about. Close it:
        the server then ends the transaction, and Django's
        ``closed_in_transaction`` bookkeeping makes the enclosing blocks skip
        their now-impossible work.
        """
        sync = self._sync
        if sync.connection is None or self._lent:
            return
        state = sync._driver_state()
        orphan = state == "transaction" and not sync.in_atomic_block
        if state in ("active", "broken") or orphan:
            try:
                await asyncio.shield(greenlet_spawn(sync.close))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("closing a cancelled connection failed", exc_info=True)

    # -- cursors ----------------------------------------------------------------

    def cursor(self) -> AsyncCursorContext:
        """An async cursor: ``async with conn.cursor() as cur`` or ``await``."""
        return AsyncCursorContext(self, chunked=False)

    def chunked_cursor(self) -> AsyncCursorContext:
        """A server-side (named) cursor that streams rows in chunks.

        Falls back to a regular cursor when the alias sets
        ``DISABLE_SERVER_SIDE_CURSORS`` (needed behind transaction-pooling
        proxies such as PgBouncer), exactly as Django's ORM does.
        """
        disabled = self._sync.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        return AsyncCursorContext(self, chunked=not disabled)

    # -- connection management ------------------------------------------------

    async def ensure_connection(self) -> None:
        """Connect if not connected yet."""
        await self._run(self._sync.ensure_connection)

    async def connect(self) -> None:
        """Open a new connection (the current one must be closed)."""
        await self._run(self._sync.connect)

    async def close(self) -> None:
        """Close the connection, or return it to the pool.

        As in Django, the wrapper stays usable: the next query reconnects.
        Inside an atomic block the transaction is lost and the block must end.
        """
        if self._lent:
            return
        await self._run(self._sync.close)

    async def is_usable(self) -> bool:
        """Whether the connection is open and answers a query."""
        if self._sync.connection is None:
            return False
        return await self._run(self._sync.is_usable)

    async def close_if_unusable_or_obsolete(self) -> None:
        """Django's request-boundary clean-up for this connection."""
        await self._run(self._sync.close_if_unusable_or_obsolete)

    async def close_if_health_check_failed(self) -> None:
        """Close the connection if ``CONN_HEALTH_CHECKS`` finds it broken."""
        await self._run(self._sync.close_if_health_check_failed)

    async def get_database_version(self) -> tuple[int, ...]:
        """The server version as a tuple, e.g. ``(15, 4)``."""
        return await self._run(self._sync.get_database_version)

    @asynccontextmanager
    async def temporary_connection(self) -> AsyncIterator[Any]:
        """A cursor; closes the connection afterwards if it opened it."""
        must_close = self._sync.connection is None
        try:
            async with self.cursor() as cursor:
                yield cursor
        finally:
            if must_close:
                await self.close()

    async def check_constraints(self, table_names: list[str] | None = None) -> None:
        """Check deferred constraints now (raises ``IntegrityError``)."""
        await self._run(self._sync.check_constraints, table_names)

    # -- transactions ---------------------------------------------------------

    async def commit(self) -> None:
        """Commit (outside atomic blocks, with autocommit off)."""
        await self._run(self._sync.commit)

    async def rollback(self) -> None:
        """Roll back (outside atomic blocks, with autocommit off)."""
        await self._run(self._sync.rollback)

    async def savepoint(self) -> str | None:
        """Create a savepoint; return its id (None if not supported)."""
        return await self._run(self._sync.savepoint)

    async def savepoint_rollback(self, sid: str) -> None:
        """Roll back to a savepoint."""
        await self._run(self._sync.savepoint_rollback, sid)

    async def savepoint_commit(self, sid: str) -> None:
        """Release a savepoint."""
        await self._run(self._sync.savepoint_commit, sid)

    def clean_savepoints(self) -> None:
        """Reset the counter used to generate savepoint ids."""
        self._sync.savepoint_state = 0

    async def get_autocommit(self) -> bool:
        """The autocommit state (connects first, as Django does)."""
        return await self._run(self._sync.get_autocommit)

    async def set_autocommit(
        self,
        autocommit: bool,
        force_begin_transaction_with_broken_autocommit: bool = False,
    ) -> None:
        """Enable or disable autocommit (not inside an atomic block)."""
        await self._run(
            self._sync.set_autocommit,
            autocommit,
            force_begin_transaction_with_broken_autocommit,
        )

    def get_rollback(self) -> bool:
        """The "needs rollback" flag of the current atomic block."""
        return self._sync.get_rollback()

    def set_rollback(self, rollback: bool) -> None:
        """Mark the current atomic block for rollback (or unmark it)."""
        self._sync.set_rollback(rollback)

    def validate_no_atomic_block(self) -> None:
        """Raise ``TransactionManagementError`` inside an atomic block."""
        self._sync.validate_no_atomic_block()

    def validate_no_broken_transaction(self) -> None:
        """Raise if an error left the current transaction unusable."""
        self._sync.validate_no_broken_transaction()

    async def on_commit(self, func: Callable[[], Any], robust: bool = False) -> None:
        """Run ``func`` after the outermost transaction commits.

        ``func`` may be a plain or a coroutine function (or return an
        awaitable). Outside a transaction it runs now. Callbacks registered
        inside a savepoint that rolls back are dropped; with ``robust=True`` an
        exception from ``func`` is logged and the remaining callbacks still
        run.
        """
        await self._run(self._sync.on_commit, func, robust)

    def execute_wrapper(self, wrapper: Callable[..., Any]) -> _EitherContext:
        """Install ``wrapper`` around every query on this connection.

        As Django's ``connection.execute_wrapper``, for raw cursors and the
        ORM alike; use ``with`` or ``async with``. ``wrapper`` is a plain
        function (it gets Django's sync face as ``context["connection"]``)
        or an ``async def`` that awaits ``execute`` (it gets this async
        connection).
        """
        return _EitherContext(self._sync.execute_wrapper(wrapper))

    # -- lifecycle (used by scopes) ---------------------------------------------

    async def _release(self, *, final: bool, reuse: bool = True) -> None:
        """Give the connection back: keep it for the next task, or pool/close.

        ``final`` (the owner is finished) ends every frame first, so tasks that
        joined them fail instead of running outside a transaction; then a clean
        connection object is kept for the next task of the loop (see
        ``idle.py``) unless ``reuse`` is false. A request boundary (not
        ``final``) leaves connections inside a transaction alone, as Django's
        ``close_old_connections`` does in tests, and releases the others.
        """
        sync = self._sync
        gate = self.gate
        if not final and (gate.frames or sync.in_atomic_block):
            return
        if final:
            gate.end_all()
        # Exclusive: a release waits for the one before it, and finds the
        # connection already detached if that one gave it back.
        releaser = Releaser()
        if not gate.try_enter(releaser, None):
            await gate.enter(releaser, None, sync.alias)
        try:
            adapter = sync.connection
            if adapter is not None:
                keep = (
                    final
                    and reuse
                    and sync._may_keep_connection()
                    and await sync._tidy_for_reuse()
                )
                if not keep:
                    # Detach before giving it back: from here on nothing on
                    # this object can reach the raw connection, which the
                    # pool may hand to another task as soon as it has it.
                    sync._reset_transaction_state()
                    await sync._release_driver_connection(adapter)
        finally:
            gate.leave(releaser)
        if final and reuse and self._reusable():
            idle.put(self)

    def _reusable(self) -> bool:
        """Whether this object can serve another task after its release."""
        gate = self.gate
        return not (
            self._lent
            or gate.holder is not None
            or gate.frames
            or gate.waiting
            or self._sync.execute_wrappers
        )

    def _prepare_for_new_owner(self) -> None:
        """Reset per-task state before a kept object serves a new task."""
        sync = self._sync
        sync.queries_log.clear()
        sync.force_debug_cursor = False
        sync.savepoint_state = 0
        sync.run_on_commit = []
        # Django health-checks a reused persistent connection before the
        # first query of a request; a kept connection is one.
        sync.health_check_done = not sync.settings_dict["CONN_HEALTH_CHECKS"]

    def _unjoin(self) -> None:
        """A joining scope is finished with this (lent) connection."""
        if self._lent:
            self._sync._unlend()


class _EitherContext:
    """Adapts a sync context manager to both ``with`` and ``async with``."""

    __slots__ = ("_cm",)

    def __init__(self, cm: Any) -> None:
        self._cm = cm

    def __enter__(self) -> Any:
        return self._cm.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._cm.__exit__(*exc)

    async def __aenter__(self) -> Any:
        return self._cm.__enter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return self._cm.__exit__(*exc)
