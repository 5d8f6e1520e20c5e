"""A dedicated thread per SQLite connection.

SQLite is a C library whose calls block: a query runs in the calling thread
until it is done, and a connection waiting for a lock sleeps in its busy
handler. On the event loop's thread either would stall every task. So each
connection gets one thread of its own; the event loop hands it calls and
awaits their results. One thread per connection (rather than a shared pool)
keeps every call on a connection in order, which is what a transaction needs,
and lets connections run in parallel, as readers in WAL mode can.

This is aiosqlite's design (a thread and a queue per connection), kept here
as a small generic piece because Django's backend needs the raw ``sqlite3``
connection (cursor factories, function registration) that aiosqlite hides.

The worker is a daemon thread: a connection left open at interpreter exit
must not keep the process alive, and SQLite's journal makes an abandoned
transaction safe. A :class:`Worker` that is garbage-collected stops its
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["THREAD_NAME_PREFIX", "Worker", "WorkerStopped"]

THREAD_NAME_PREFIX = "django_async_backend.sqlite3:"
"""Connection threads are named this, then the database."""

T = TypeVar("T")


class WorkerStopped(RuntimeError):
    """The worker's thread has stopped; the call was not run."""


class _Call:
    """One queued call and where its outcome goes."""

    __slots__ = ("args", "fn", "future", "housekeeping", "loop", "skip", "worker")

    def __init__(
        self,
        worker: Worker,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        future: asyncio.Future[Any],
        housekeeping: bool,
    ) -> None:
        self.worker: Worker | None = worker
        self.housekeeping = housekeeping
        self.fn = fn
        self.args = args
        self.future = future
        self.loop = future.get_loop()
        # Set on the loop when the caller gave up before the call started;
        # read by the worker thread (a plain attribute: atomic under the GIL).
        self.skip = False

    def complete(self, result: Any, error: BaseException | None) -> None:
        """Runs on the event loop once the call has ended."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker._finished(self.housekeeping)
        future = self.future
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def cancelled(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.skip = True


_STOP = object()


def _run(queue: SimpleQueue[Any]) -> None:
    while True:
        call = queue.get()
        if call is _STOP:
            return
        result: Any = None
        error: BaseException | None = None
        if call.skip:
            error = WorkerStopped("The caller gave up before the call started.")
        else:
            try:
                result = call.fn(*call.args)
            except BaseException as exc:  # handed to the caller
                error = exc
        # A closed loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            call.loop.call_soon_threadsafe(call.complete, result, error)
        del call, result, error


class Worker:
    """Runs calls, one at a time and in order, on a thread of its own.

    Only the event loop thread that created the worker submits calls, so its
    bookkeeping (:attr:`busy`) needs no lock.
    """

    def __init__(self, name: str) -> None:
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._pending = 0  # calls that are not housekeeping
        self._stopped = False
        self._after_call: list[Callable[[], None]] = []
        self.thread = threading.Thread(
            target=_run, args=(self._queue,), name=name, daemon=True
        )
        self.thread.start()
        weakref.finalize(self, self._queue.put, _STOP)

    @property
    def busy(self) -> bool:
        """Whether a call is queued or running (possibly one nobody awaits).

        Housekeeping calls (see :meth:`post`) don't count.
        """
        return self._pending > 0

    @property
    def stopped(self) -> bool:
        return self._stopped

    def on_idle(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the loop each time the worker stops being busy."""
        self._after_call.append(callback)

    def submit(
        self, fn: Callable[..., T], *args: Any, housekeeping: bool = False
    ) -> asyncio.Future[T]:
        """Queue ``fn(*args)``; the future gets its result or exception.

        Cancelling the future before the call starts skips it; once started,
        the call runs to completion (interrupt it through the connection).
        """
        if self._stopped:
            raise WorkerStopped("This connection's thread has stopped.")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        call = _Call(self, fn, args, future, housekeeping)
        future.add_done_callback(call.cancelled)
        if not housekeeping:
            self._pending += 1
        self._queue.put(call)
        return future

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue housekeeping ``fn(*args)``, not waiting for it.

        For calls that change no state a caller could observe (closing a
        cursor); errors are dropped. It still runs before any call submitted
        afterwards.
        """
        if not self._stopped:
            self.submit(fn, *args, housekeeping=True).add_done_callback(_consume)

    def stop(self) -> None:
        """Stop the thread after the calls already queued."""
        if not self._stopped:
            self._stopped = True
            self._queue.put(_STOP)

    def _finished(self, housekeeping: bool) -> None:
        if housekeeping:
            return
        self._pending -= 1
        if self._pending == 0:
            for callback in list(self._after_call):
                callback()


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "never retrieved" warning
