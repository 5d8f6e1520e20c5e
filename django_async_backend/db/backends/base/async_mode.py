"""The sync face: one Django ``DatabaseWrapper`` class serving two modes.

Outside the bridge (plain sync code in a thread) an ENGINE's wrapper is
Django's stock wrapper, untouched. The connection handler also creates
instances in *async mode*: each serves one task's async connection, and it is
what Django's ORM sees inside the bridge. In async mode the wrapper's
``connection`` is a sync-looking adapter whose methods ``await_only`` the async
driver, so Django's own connection, cursor and transaction code runs unchanged.

Django guards about sixteen wrapper methods with ``@async_unsafe``: they raise
``SynchronousOnlyOperation`` when an event loop runs in the thread, which is
always true inside the bridge. :class:`AsyncModeMixin` passes exactly those
guards, and only for a wrapper in async mode (or lending its transaction, see
:meth:`AsyncModeMixin._lend_to_async`) running inside the bridge. Everywhere
else the guard stands: sync ORM calls from async code still raise Django's
usual error. ``DJANGO_ALLOW_ASYNC_UNSAFE`` is never touched.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.utils.asyncio import async_unsafe

from .... import conf
from ...bridge import await_only, in_bridge
from ...scope import sync_transactions

if TYPE_CHECKING:
    from .wrapper import AsyncDatabaseWrapper

__all__ = ["AsyncModeMixin", "is_async_capable"]

_GUARD_CODE = async_unsafe(lambda: None).__code__


def _is_guarded(func: Any) -> bool:
    return getattr(func, "__code__", None) is _GUARD_CODE and hasattr(
        func, "__wrapped__"
    )


_innermost_cache: dict[Any, Any] = {}


def _innermost(func: Any) -> Any:
    """The function under any ``@async_unsafe`` layers of ``func`` (cached)."""
    inner = _innermost_cache.get(func)
    if inner is None:
        inner = func
        while _is_guarded(inner):
            inner = inner.__wrapped__
        _innermost_cache[func] = inner
    return inner


def _pass_guard(owner: type, name: str) -> Callable[..., Any]:
    # The guarded method is looked up at call time, so that code patching
    # Django's base class later (pytest-django's database blocker, for one)
    # still sees its patch apply to this ENGINE.
    def method(self: AsyncModeMixin, *args: Any, **kwargs: Any) -> Any:
        bound = getattr(super(owner, self), name)
        if self._bridge_may_pass() and in_bridge():
            return _innermost(bound.__func__)(self, *args, **kwargs)
        return bound(*args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"{owner.__qualname__}.{name}"
    return method


def unguarded(method: Any) -> Callable[..., Any]:
    """The function behind a (possibly ``@async_unsafe``) bound method."""
    func = getattr(method, "__func__", None)
    if func is None:
        return method
    inner = _innermost(func)
    if inner is func:
        return method
    return functools.partial(inner, method.__self__)


def _awaiting_callback(func: Callable[[], Any]) -> Callable[[], Any]:
    """Let an ``on_commit`` callback be a coroutine function."""

    def run() -> Any:
        result = func()
        if inspect.isawaitable(result):
            if in_bridge():
                return await_only(result)

            async def wait() -> Any:
                return await result

            return async_to_sync(wait)()
        return result

    try:
        return functools.wraps(func)(run)
    except AttributeError:  # pragma: no cover - callables without metadata
        return run


def is_async_capable(wrapper_class: type) -> bool:
    """Whether an ENGINE's ``DatabaseWrapper`` can serve async connections."""
    return issubclass(wrapper_class, AsyncModeMixin)


class AsyncModeMixin:
    """Mix into an ENGINE's ``DatabaseWrapper`` before Django's base class."""

    # The async face this wrapper serves (async mode); None in sync mode.
    _async_face: AsyncDatabaseWrapper | None = None
    # Async faces lending this sync wrapper's open transaction to tasks.
    _lent_face: AsyncDatabaseWrapper | None = None
    _lent_count = 0

    # Attributes every class that mixes this in has (from Django's wrapper).
    alias: str
    settings_dict: dict[str, Any]
    connection: Any
    in_atomic_block: bool
    autocommit: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            if _is_guarded(inspect.getattr_static(cls, name, None)):
                setattr(cls, name, _pass_guard(cls, name))

    # -- modes ---------------------------------------------------------------

    @property
    def in_async_mode(self) -> bool:
        """Whether this instance serves an async connection."""
        return self._async_face is not None

    def _bridge_may_pass(self) -> bool:
        return self._async_face is not None or self._lent_count > 0

    def _enable_async_mode(self) -> AsyncDatabaseWrapper:
        """Turn this fresh instance into the sync face of a new async face."""
        from .wrapper import AsyncDatabaseWrapper

        face = AsyncDatabaseWrapper(self)
        self._async_face = face
        self._setup_async_driver()
        return face

    def _setup_async_driver(self) -> None:
        """Install the async driver adapter (backend specific)."""
        raise NotImplementedError

    async def _release_driver_connection(self) -> None:
        """Clean the raw connection up and give it back (backend specific).

        Called with the connection's gate held and ``self.connection`` set.
        Must leave no query running and no transaction open, then return the
        connection to its pool or close it. Must not raise for a broken
        connection.
        """
        raise NotImplementedError

    async def _tidy_for_reuse(self) -> bool:
        """Prepare a clean connection to be kept; False if it can't be."""
        return True

    def _kept_connection_ok(self) -> bool:
        """Whether a kept connection may serve a new task (no I/O)."""
        raise NotImplementedError

    def _others_wait_for_connection(self) -> bool:
        """Whether other tasks are queued for a connection like this one.

        Then it goes back to its pool, which hands it to the task that has
        waited longest, instead of to whichever task asks next: keeping it
        would let new requests overtake queued ones indefinitely.
        """
        return False

    def _driver_state(self) -> str:
        """``"idle"``, ``"transaction"``, ``"active"`` or ``"broken"``."""
        raise NotImplementedError

    @property
    def _pooled(self) -> bool:
        return bool(self.settings_dict["OPTIONS"].get("pool"))

    def _reset_transaction_state(self) -> None:
        """Forget Django's transaction bookkeeping after a hard release."""
        self.connection = None
        self.in_atomic_block = False
        self.savepoint_ids: list[Any] = []
        self.atomic_blocks: list[Any] = []
        self.needs_rollback = False
        self.closed_in_transaction = False
        self.commit_on_exit = True
        self.run_on_commit: list[Any] = []
        self.run_commit_hooks_on_set_autocommit_on = False

    def _may_keep_connection(self) -> bool:
        """Whether the open connection may be kept for a later task.

        Mirrors Django's ``close_if_unusable_or_obsolete``: a clean autocommit
        state, no error since the last commit, no transaction, and, without a
        pool, ``CONN_MAX_AGE`` with time left before ``close_at``.
        """
        if (
            self.in_atomic_block
            or getattr(self, "closed_in_transaction", False)
            or getattr(self, "errors_occurred", False)
            or getattr(self, "execute_wrappers", None)
            or self.autocommit != self.settings_dict["AUTOCOMMIT"]
        ):
            return False
        if self._pooled:
            if (
                conf.keep_connection_seconds() == 0
                or self._others_wait_for_connection()
            ):
                return False
        else:
            if self.settings_dict["CONN_MAX_AGE"] == 0:
                return False
            close_at = getattr(self, "close_at", None)
            if close_at is not None and time.monotonic() >= close_at:
                return False
        return self._driver_state() == "idle"

    def _kept_connection_expired(self, idle_seconds: float, keep: float) -> bool:
        """Whether a kept connection should go now (see ``idle.put``)."""
        if self.connection is None:
            return False
        if self._pooled:
            return idle_seconds > keep
        close_at = getattr(self, "close_at", None)
        return close_at is not None and time.monotonic() >= close_at

    # -- transactions shared with async code --------------------------------

    def set_autocommit(
        self,
        autocommit: bool,
        force_begin_transaction_with_broken_autocommit: bool = False,
    ) -> None:
        super().set_autocommit(  # type: ignore[misc]
            autocommit, force_begin_transaction_with_broken_autocommit
        )
        if self._async_face is None:
            self._publish_sync_transaction(open_=not autocommit)

    def _publish_sync_transaction(self, *, open_: bool) -> None:
        # Sync code in a transaction that calls async code (async_to_sync)
        # expects that code to run inside its transaction, as sync_to_async
        # would. Publish this wrapper in the context the async code inherits.
        current = sync_transactions.get()
        if open_:
            if current.get(self.alias) is not self:
                sync_transactions.set({**current, self.alias: self})
        elif current.get(self.alias) is self:
            remaining = dict(current)
            del remaining[self.alias]
            sync_transactions.set(remaining)

    def _lent_transaction_open(self) -> bool:
        return self.connection is not None and (
            self.in_atomic_block or not self.autocommit
        )

    def _lend_to_async(self) -> AsyncDatabaseWrapper | None:
        """An async face running on this sync wrapper's open transaction.

        Its queries run on this very connection, blocking the event loop for
        their duration: the sync caller is blocked in ``async_to_sync`` anyway,
        and correctness (seeing and joining its uncommitted work) comes first.
        """
        if self._async_face is not None or not self._lent_transaction_open():
            return None
        if self._lent_face is None:
            from .wrapper import AsyncDatabaseWrapper

            self._lent_face = AsyncDatabaseWrapper(self, lent=True)
        self._lent_count += 1
        self.inc_thread_sharing()  # type: ignore[attr-defined]
        return self._lent_face

    def _unlend(self) -> None:
        if self._lent_count > 0:
            self._lent_count -= 1
            self.dec_thread_sharing()  # type: ignore[attr-defined]

    def on_commit(self, func: Callable[[], Any], robust: bool = False) -> None:
        if self._bridge_may_pass() and callable(func):
            func = _awaiting_callback(func)
        super().on_commit(func, robust)  # type: ignore[misc]
