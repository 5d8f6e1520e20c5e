"""The greenlet bridge: run synchronous code that awaits.

Django's ORM is synchronous all the way down to ``cursor.execute()``. To run it
on asyncio connections without a thread, :func:`greenlet_spawn` runs the sync
code in a child greenlet of the task that awaits it. Where that code reaches the
driver, :func:`await_only` switches back to the task with a coroutine; the task
awaits it on the event loop and switches back in with the result (or raises the
exception inside the sync code). No thread is involved, and the sync code is
Django's own, unchanged.

This is the technique of SQLAlchemy's asyncio extension. The module is generic:
it knows nothing about Django or databases.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet

__all__ = [
    "BridgeError",
    "BridgeGreenlet",
    "await_only",
    "current_bridge",
    "greenlet_spawn",
    "in_bridge",
    "run_ready",
    "start_eagerly",
]

T = TypeVar("T")


class BridgeError(RuntimeError):
    """Raised when bridge primitives are used outside :func:`greenlet_spawn`."""


class BridgeGreenlet(greenlet):
    """A greenlet running sync code on behalf of an asyncio task.

    ``driver`` is the greenlet that runs the task (the event loop's greenlet);
    :func:`await_only` switches to it. For each call the greenlet shares the
    task's ``contextvars`` context, so context-local state (including changes
    the sync code makes) is the task's own. ``local`` is call-local storage
    for callers (the connection handler caches resolved connections there) and
    ``on_exit`` holds callbacks run when the sync call has finished.

    One greenlet serves many calls, one after the other (see
    :func:`greenlet_spawn`): between calls it waits, parked, in its thread's
    free list, with ``local`` emptied and no context.
    """

    def __init__(self, driver: greenlet) -> None:
        super().__init__(self._serve, driver)
        self.driver = driver
        self.local: dict[Any, Any] = {}
        self.on_exit: list[Callable[[], None]] = []

    def _serve(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        while True:
            try:
                outcome = _Outcome(fn(*args, **kwargs), None)
            except GreenletExit:
                raise  # the greenlet is being discarded: let it die
            except BaseException as exc:
                outcome = _Outcome(None, exc)
            fn = args = kwargs = None  # type: ignore[assignment]
            # Back to the task with the outcome; resumed with the next call.
            fn, args, kwargs = self.driver.switch(outcome)


class _Outcome:
    """How one call in a :class:`BridgeGreenlet` ended."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error


class _FreeList(threading.local):
    """Each thread's parked :class:`BridgeGreenlet` objects (greenlets can
    only run in the thread that created them)."""

    def __init__(self) -> None:
        self.parked: list[BridgeGreenlet] = []


_free = _FreeList()
MAX_PARKED = 256
"""Parked greenlets kept per thread (about the most tasks that are inside a
bridged call at once under load); beyond that a finished one is dropped."""


def current_bridge() -> BridgeGreenlet | None:
    """Return the bridge greenlet running the current code, if any."""
    current = getcurrent()
    return current if isinstance(current, BridgeGreenlet) else None


def in_bridge() -> bool:
    """Whether the current code runs inside :func:`greenlet_spawn`."""
    return isinstance(getcurrent(), BridgeGreenlet)


def await_only(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` from sync code running inside :func:`greenlet_spawn`.

    Suspends the sync code until the task has awaited ``awaitable`` on the event
    loop, then returns its result or raises its exception.
    """
    current = getcurrent()
    if not isinstance(current, BridgeGreenlet):
        if asyncio.iscoroutine(awaitable):
            awaitable.close()  # don't leak a "never awaited" warning
        raise BridgeError(
            "await_only() was called outside greenlet_spawn(): this sync code "
            "is not running on behalf of an asyncio task. Call it through an "
            "async API (for example an ORM a-method or async_atomic)."
        )
    return current.driver.switch(awaitable)


async def greenlet_spawn(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run the sync callable ``fn`` so that it may call :func:`await_only`.

    Returns what ``fn`` returns and raises what it raises. Cancelling the
    awaiting task raises :class:`asyncio.CancelledError` inside ``fn`` at the
    ``await_only`` it is suspended in, so ``fn``'s ``finally`` blocks and
    context managers run (and may await) before the cancellation propagates.

    The call runs in a parked greenlet of this thread when there is one, and
    the greenlet is parked again afterwards. Creating a greenlet costs far
    more than the switches: on Python 3.11+ each new one maps (and later
    unmaps) a fresh frame stack, two system calls, ~10 us; a request makes
    one call per ORM a-method and per bridged middleware hook.
    """
    driver = getcurrent()
    parked = _free.parked
    child = parked.pop() if parked else None
    if child is not None:
        try:
            if child.parent is not driver:
                child.parent = driver
        except ValueError:  # ``driver`` descends from it (nested bridges)
            parked.append(child)
            child = None
    if child is None:
        child = BridgeGreenlet(driver)
    child.driver = driver
    child.gr_context = driver.gr_context
    finished = False
    try:
        result: Any = child.switch(fn, args, kwargs)
        while type(result) is not _Outcome:
            try:
                value = await result
            except BaseException:
                result = child.throw(*sys.exc_info())
            else:
                result = child.switch(value)
        finished = True
    finally:
        callbacks = child.on_exit
        while callbacks:
            callbacks.pop()()
        if finished:
            # Parked without the task's state: no context, no cached
            # connections (a later call may belong to another task).
            child.gr_context = None
            child.local.clear()
            if len(parked) < MAX_PARKED:
                parked.append(child)
    error = result.error
    if error is not None:
        try:
            raise error
        finally:
            error = result = None
    return result.value


def run_ready(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that completes without suspending, synchronously.

    Some driver coroutines never wait for I/O (fetching rows a client-side
    cursor already holds, closing it). Running them here needs no event loop
    and no task switch, so it also works outside the bridge (for example when
    a garbage-collected iterator closes its cursor).
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise BridgeError(f"{coro!r} needed the event loop; await it instead")


class _Resumed:
    """The rest of a coroutine that was started synchronously and suspended."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        pending = self._pending
        while True:
            try:
                sent = yield pending
            except BaseException as exc:
                try:
                    pending = self._coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = self._coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(resumed: _Resumed) -> Any:
    return await resumed


_background: set[asyncio.Task[Any]] = set()


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run ``coro`` now, up to its first suspension; finish it in a task.

    Returns ``None`` if the coroutine completed synchronously (its exceptions
    are raised), else the task that finishes it. Used for clean-up that must
    start while the event loop may be about to stop (a task's done callback):
    returning an idle connection to its pool never suspends, so it completes
    before the loop can go away.
    """
    try:
        pending = coro.send(None)
    except StopIteration:
        return None
    task = asyncio.get_running_loop().create_task(_finish(_Resumed(coro, pending)))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task
