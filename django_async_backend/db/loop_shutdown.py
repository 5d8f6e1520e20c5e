"""Run clean-up when an event loop shuts down.

Pools and parked connections belong to one event loop. ``asyncio.run()``,
``asyncio.Runner`` (and so ``IsolatedAsyncioTestCase``) and ASGI servers call
``loop.shutdown_asyncgens()`` before closing a loop: it closes every async
generator the loop has seen. Each loop gets one such generator, whose
``finally`` runs the registered clean-ups, so connections are closed properly
instead of being dropped with the loop.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from .bridge import run_ready

__all__ = ["on_loop_shutdown"]

logger = logging.getLogger("django_async_backend")

_registered: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, tuple[Any, list[Callable[[], Awaitable[Any]]]]
] = weakref.WeakKeyDictionary()


async def _finalizer(
    callbacks: list[Callable[[], Awaitable[Any]]],
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        # In registration order: connections go back to their pools before
        # the pools close.
        for callback in callbacks:
            try:
                await callback()
            except BaseException as exc:
                logger.warning("clean-up at event loop shutdown failed: %r", exc)


def on_loop_shutdown(callback: Callable[[], Awaitable[Any]]) -> None:
    """Await ``callback()`` when the running event loop shuts down."""
    loop = asyncio.get_running_loop()
    entry = _registered.get(loop)
    if entry is None:
        callbacks: list[Callable[[], Awaitable[Any]]] = []
        generator = _finalizer(callbacks)
        # The first step registers the generator with the running loop.
        run_ready(generator.asend(None))
        _registered[loop] = (generator, callbacks)
    else:
        callbacks = entry[1]
    callbacks.append(callback)
