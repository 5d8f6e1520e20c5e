"""Django signal receivers: request boundaries and settings changes.

A connection goes back to the pool when its task ends; these receivers also
do it at request boundaries, for code that serves several requests from one
long-lived task (Django's ``AsyncClient`` in a test, for instance). They act
like Django's ``close_old_connections``: connections inside a transaction are
left alone, and the connection objects stay usable (they reconnect).

Receivers may run in another task or in a worker thread (Django sends these
signals through ``sync_to_async``); the scope they act on comes from the
context they inherit, and the work is handed to its event loop.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from .. import conf
from .scope import existing_scope

__all__ = ["on_request_finished", "on_request_started", "on_setting_changed"]

_POOL_SETTINGS = {"DATABASES", "TIME_ZONE", "USE_TZ"}


def _release_current_scope() -> None:
    scope = existing_scope()
    if scope is None or scope.pinned or scope.closed:
        return
    release = functools.partial(scope.release, close=False)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is scope.loop:
        release()
    elif not scope.loop.is_closed():
        scope.loop.call_soon_threadsafe(release)


def on_request_started(**kwargs: Any) -> None:
    if not conf.request_signals_enabled():
        return
    scope = existing_scope()
    if scope is not None:
        for face in list(scope.faces.values()):
            face.queries_log.clear()
    _release_current_scope()


def on_request_finished(**kwargs: Any) -> None:
    if conf.request_signals_enabled():
        _release_current_scope()


def on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    from ..models import native
    from .backends.postgresql.pool import settings_generation
    from .task_local import settings_changed

    conf.reset()
    if setting in _POOL_SETTINGS:
        settings_generation.value += 1
        settings_changed()
        native.settings_changed()
