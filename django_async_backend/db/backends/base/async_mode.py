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
usual error. Django's environment switch that turns every guard off is
never set nor consulted.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.utils import asyncio as django_asyncio
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


def _guard_sees_loop() -> asyncio.AbstractEventLoop:
    """``get_running_loop`` as Django's ``@async_unsafe`` guard sees it.

    The guard calls ``get_running_loop()`` through its module's globals, so
    this replaces that one name there. It answers "no running loop" only for
    a guard called inside the bridge on a wrapper that may pass (async mode,
    or lending its transaction); everything else gets the real answer.

    :class:`_PassableGuard` already skips the guard on this ENGINE's methods (the
    hot path, with no frame to inspect). This catches the guarded functions
    it cannot see: Django's own methods called through ``super()`` from an
    override, and functions patched onto Django's base class after our class
    was built (Django's test cases wrap ``ensure_connection``, keeping the
    guarded original inside their patch).
    """
    loop = asyncio.get_running_loop()
    if in_bridge():
        guard = sys._getframe(1)
        if guard.f_code is _GUARD_CODE:
            args = guard.f_locals.get("args")
            target = args[0] if args else None
            if isinstance(target, AsyncModeMixin) and target._bridge_may_pass():
                raise RuntimeError("no running event loop")
    return loop


def _install_guard_hook() -> None:
    if django_asyncio.get_running_loop is not _guard_sees_loop:
        django_asyncio.get_running_loop = _guard_sees_loop


_passing_cache: dict[Any, Callable[..., Any]] = {}


def _passing(func: Any) -> Callable[..., Any]:
    """``func`` (guarded) as a method that passes its guard when it may."""
    method = _passing_cache.get(func)
    if method is None:
        inner = _innermost(func)

        def method(self: AsyncModeMixin, *args: Any, **kwargs: Any) -> Any:
            if self._bridge_may_pass() and in_bridge():
                return inner(self, *args, **kwargs)
            return func(self, *args, **kwargs)

        method.__name__ = func.__name__
        method.__qualname__ = func.__qualname__
        method.__doc__ = func.__doc__
        _passing_cache[func] = method
    return method


class _PassableGuard:
    """Stands for a guarded method Django's wrapper defines.

    The method is looked up on Django's classes each time the attribute is
    read, exactly when a stock wrapper would look it up: code that patches
    Django's base class later (pytest-django's database blocker, Django's own
    tests with ``mock.patch``) sees its patch apply to this ENGINE, and a
    bound method taken before the patch keeps calling the original, as on a
    stock wrapper. A guarded function read this way comes back able to pass
    its guard (the hot path: no frame inspection); anything else (a patch,
    a mock) comes back as it is.
    """

    def __init__(self, owner: type, name: str) -> None:
        self._owner = owner
        self._name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return getattr(super(self._owner, owner), self._name)
        bound = getattr(super(self._owner, instance), self._name)
        func = getattr(bound, "__func__", None)
        if func is None or not _is_guarded(func):
            return bound
        return types.MethodType(_passing(func), instance)


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
    close_at: float | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _install_guard_hook()
        for name in dir(cls):
            if _is_guarded(inspect.getattr_static(cls, name, None)):
                setattr(cls, name, _PassableGuard(cls, name))

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

    async def _release_driver_connection(self, adapter: Any) -> None:
        """Clean the raw connection up and give it back (backend specific).

        ``adapter`` is the driver adapter this wrapper's ``connection`` held;
        it has already been detached (``self.connection`` is None), and the
        connection's gate is held by this release alone. Must leave no query
        running and no transaction open, then return the connection to its
        pool or close it. Must not raise for a broken connection.
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

    def close_if_unusable_or_obsolete(self) -> None:
        """Django's request-boundary clean-up (``close_old_connections``).

        On a task's connection (async mode) it runs in the bridge, on the
        request's task. Two differences from a thread's connection:

        * inside a transaction (an atomic block, or an ``async_atomic``
          frame another task joined) it does nothing: the request's
          transaction is not over, and closing would lose it;
        * a pooled connection is not closed for its age (Django's pooled
          connections have ``CONN_MAX_AGE = 0``, so every request boundary
          would return it to the pool): the task's release keeps it for the
          next task, then gives it back (see ``idle.py``).

        Unusable connections (autocommit left changed, errors and a failed
        check) are closed as Django closes them. With
        ``ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS`` request boundaries leave
        task connections alone altogether.
        """
        face = self._async_face
        if face is None:
            return super().close_if_unusable_or_obsolete()  # type: ignore[misc]
        if (
            self.connection is None
            or self.in_atomic_block
            or face.gate.frames
            or not conf.request_signals_enabled()
        ):
            return
        if not self._pooled:
            return super().close_if_unusable_or_obsolete()  # type: ignore[misc]
        close_at = getattr(self, "close_at", None)
        self.close_at = None
        try:
            super().close_if_unusable_or_obsolete()  # type: ignore[misc]
        finally:
            if self.connection is not None:
                self.close_at = close_at

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
