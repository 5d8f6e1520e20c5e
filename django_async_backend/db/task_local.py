"""Make Django's ``connections[alias]`` task-aware inside the bridge.

``django.db.connections`` keeps its wrappers in a thread-local object, so
every task on the event loop's thread would see the same wrapper. This module
replaces that storage object with one that, when the caller runs inside the
bridge, answers with the *current task's* sync face for aliases on an async
ENGINE (taking the connection's turn for the duration of the bridged call).
Everywhere else, and for aliases on other ENGINEs, it is the original
thread-local storage, so sync code behaves exactly as before.

``connections.all(initialized_only=True)`` (what Django's
``close_old_connections``, ``reset_queries`` and ``close_all()`` iterate) is
answered the same way: inside the bridge it lists the connections the
current task has opened, without opening any.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections
from django.db.utils import load_backend

from .backends.base.async_mode import is_async_capable
from .bridge import BridgeGreenlet, await_only, current_bridge
from .scope import current_scope

__all__ = ["TaskLocalConnections", "install", "is_async_alias"]


@functools.cache
def _engine_is_async(engine: str) -> bool:
    try:
        return is_async_capable(load_backend(engine).DatabaseWrapper)
    except Exception:
        return False


def is_async_alias(alias: str) -> bool:
    """Whether ``alias`` uses an ENGINE that serves async connections."""
    try:
        engine = connections.settings[alias]["ENGINE"]
    except KeyError:
        return False
    return _engine_is_async(engine)


def _resolve(bridge: BridgeGreenlet, alias: str) -> Any:
    scope = current_scope()
    face = scope.face(alias)
    joined = scope.joins.get(alias)
    gate = face.gate
    if not gate.try_enter(scope, joined):
        await_only(gate.enter(scope, joined, alias))
    bridge.on_exit.append(functools.partial(gate.leave, scope))
    sync = face.sync_wrapper
    connection = getattr(sync, "connection", None)
    if connection is not None and getattr(connection, "pending_closes", None):
        connection.close_pending()
    bridge.local[alias] = sync
    return sync


class TaskLocalConnections:
    """Storage for ``ConnectionHandler``: per task in the bridge, else per thread."""

    __slots__ = ("_thread_local",)

    def __init__(self, thread_local: Any) -> None:
        object.__setattr__(self, "_thread_local", thread_local)

    def _dab_initialized(self, alias: str) -> bool:
        """Whether ``alias`` has a connection here already (opens none)."""
        bridge = current_bridge()
        if bridge is not None and is_async_alias(alias):
            return alias in bridge.local or alias in current_scope().faces
        return hasattr(self._thread_local, alias)

    def __getattr__(self, alias: str) -> Any:
        bridge = current_bridge()
        if bridge is not None:
            sync = bridge.local.get(alias)
            if sync is not None:
                return sync
            if is_async_alias(alias):
                return _resolve(bridge, alias)
        return getattr(self._thread_local, alias)

    def __setattr__(self, alias: str, value: Any) -> None:
        setattr(self._thread_local, alias, value)

    def __delattr__(self, alias: str) -> None:
        delattr(self._thread_local, alias)


class _TaskAwareHandler:
    """Mixed into ``django.db.connections``' class by :func:`install`."""

    _connections: TaskLocalConnections

    def all(self, initialized_only: bool = False) -> list[Any]:
        if not initialized_only or current_bridge() is None:
            return super().all(initialized_only)  # type: ignore[misc]
        storage = self._connections
        return [
            self[alias]  # type: ignore[index]
            for alias in self  # type: ignore[attr-defined]
            if storage._dab_initialized(alias)
        ]


def install() -> None:
    """Put :class:`TaskLocalConnections` under ``django.db.connections``."""
    current = connections._connections
    if not isinstance(current, TaskLocalConnections):
        connections._connections = TaskLocalConnections(current)
    handler_class = type(connections)
    if not issubclass(handler_class, _TaskAwareHandler):
        # The same object, answering all() per task inside the bridge.
        connections.__class__ = type(
            handler_class.__name__, (_TaskAwareHandler, handler_class), {}
        )


def settings_changed() -> None:
    _engine_is_async.cache_clear()
