"""Django signal receivers: request boundaries and settings changes.

A connection is released when its task ends; these receivers also release
it when the task's request ends (Django 6's ASGI handler serves the request
in the task that sends ``request_finished``), or a new one starts in the same
task. They release as a task's end does: the connection is kept for the next
task of the loop, then goes back to its pool. Like Django's
``close_old_connections``, they leave connections inside a transaction alone.

With the native request path the receivers run in the bridge, on the
request's task. Otherwise they run in a worker thread (Django sends these
signals through ``sync_to_async``): the scope they act on then comes from the
context they inherit, and the work is handed to its event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import conf
from .scope import existing_scope

__all__ = ["on_request_finished", "on_request_started", "on_setting_changed"]

_POOL_SETTINGS = {"DATABASES", "TIME_ZONE", "USE_TZ"}


def _release_current_scope() -> None:
    scope = existing_scope()
    if scope is None or scope.pinned or scope.closed:
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is scope.loop:
        scope.release_at_request_boundary()
    elif not scope.loop.is_closed():
        scope.loop.call_soon_threadsafe(scope.release_at_request_boundary)


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
    from ..handlers import policy
    from ..models import native
    from .backends.postgresql.pool import settings_generation
    from .task_local import settings_changed

    conf.reset()
    policy.reset()
    if setting in _POOL_SETTINGS:
        settings_generation.value += 1
        settings_changed()
        native.settings_changed()
