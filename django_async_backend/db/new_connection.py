"""Independent connections: DEP 0009's ``new_connections()``.

Inside an independent block the current task uses fresh connections, opened
on first use and released when the block ends; the caller's connections (and
its transaction) are untouched and back in use afterwards. Tasks started in
the block do not join the caller's transaction either. This is the explicit
way to do work that must commit on its own (an audit log written even if the
surrounding transaction rolls back), or to run a query beside an open
transaction.

Accepted spellings: ``async_connections.independent_connection()``, the
upstream README's ``async_connections._independent_connection()``, and the
upstream releases' ``django_async_backend.db.async_new_connection`` (context
manager, decorator of an async function, or wrapper of a coroutine).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import Token
from typing import Any, TypeVar, overload

from .scope import (
    ConnectionScope,
    bind_scope,
    current_task_or_raise,
    open_frames,
    sync_transactions,
    unbind_scope,
)

__all__ = ["IndependentConnection", "async_new_connection"]

T = TypeVar("T")


class IndependentConnection:
    """Async context manager (and decorator) running on fresh connections."""

    def __init__(self) -> None:
        self._entered: (
            tuple[ConnectionScope, ConnectionScope | None, Token[Any], Token[Any]]
            | None
        ) = None

    async def __aenter__(self) -> IndependentConnection:
        if self._entered is not None:
            raise RuntimeError(
                "This independent_connection() block is already active; "
                "create a new one for each block."
            )
        task = current_task_or_raise()
        scope = ConnectionScope(task.get_loop())
        previous = bind_scope(scope)
        frames = open_frames.set({})
        lent = sync_transactions.set({})
        self._entered = (scope, previous, frames, lent)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._entered is not None
        scope, previous, frames, lent = self._entered
        self._entered = None
        try:
            await asyncio.shield(scope.aclose())
        finally:
            unbind_scope(previous)
            open_frames.reset(frames)
            sync_transactions.reset(lent)

    def __call__(
        self, func: Callable[..., Awaitable[T]]
    ) -> Callable[..., Coroutine[Any, Any, T]]:
        return _decorate(func)


def _decorate(
    func: Callable[..., Awaitable[T]],
) -> Callable[..., Coroutine[Any, Any, T]]:
    @functools.wraps(func)
    async def inner(*args: Any, **kwargs: Any) -> T:
        async with IndependentConnection():
            return await func(*args, **kwargs)

    return inner


async def _run(awaitable: Awaitable[T]) -> T:
    async with IndependentConnection():
        return await awaitable


@overload
def async_new_connection(arg: None = None) -> IndependentConnection: ...
@overload
def async_new_connection(
    arg: Callable[..., Awaitable[T]],
) -> Callable[..., Coroutine[Any, Any, T]]: ...
@overload
def async_new_connection(arg: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]: ...
def async_new_connection(arg: Any = None) -> Any:
    """Run async code on connections of its own.

    * ``async with async_new_connection(): ...``
    * ``@async_new_connection`` on an ``async def``
    * ``await async_new_connection(some_coroutine())``
    """
    if arg is None:
        return IndependentConnection()
    if inspect.iscoroutinefunction(arg):
        return _decorate(arg)
    if inspect.iscoroutine(arg):
        return _run(arg)
    raise TypeError(
        "async_new_connection() takes nothing (for `async with`), an async "
        f"function, or a coroutine; got {type(arg).__name__}."
    )
