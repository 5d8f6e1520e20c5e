"""Which sync code of Django's request path runs in the bridge.

Django's async request path hands every piece of sync code it meets to a
thread (``sync_to_async``): each old-style middleware hook, the sync
receivers of the request signals, template rendering, ``response.close()``.
Run in the bridge instead, that code runs on the request's own task, with no
thread, and its database work (a session load, ``request.user``, messages)
runs on the task's connection, inside its transaction.

Code in the bridge runs on the event loop's thread, though: code that blocks
on anything but the database (a network cache, a file, an HTTP call) would
stall every request the loop serves. So by default only code known not to
do that runs there:

* Django's own code (modules under ``django.``) and this package's, except
  where Django's code does blocking I/O because of the project's settings:

  - the session middleware, and the middleware that read the session (auth,
    messages; CSRF with ``CSRF_USE_SESSIONS``), when ``SESSION_ENGINE``
    keeps sessions in files or in a cache that is not local memory;
  - the cache middleware, unless its cache is local memory or the dummy
    cache; likewise the async methods of Django's caches (``aget`` ...),
    which the cache session engines call: local memory and dummy caches
    only;
  - ``django.contrib.staticfiles`` (file I/O);

* everything else (project and third-party middleware, receivers, the test
  functions of ``user_passes_test``) keeps Django's thread path;
* sync views keep the thread path too, unless opted in.

Settings change that: ``ASYNC_BACKEND_NATIVE_CALLS`` adds dotted paths (or
``"__all__"``), ``ASYNC_BACKEND_THREAD_CALLS`` removes some (it always wins),
``ASYNC_BACKEND_NATIVE_SYNC_VIEWS`` and :func:`native_view` opt sync views
in. ``ASYNC_BACKEND_NATIVE_REQUEST`` switches the whole request path (by
default it is on when every database alias is on an async ENGINE: Django's
own database code in the bridge needs async connections).

A dotted path names the code that runs: ``module.qualname`` of the function,
and for a method also ``module.Class.method`` of the instance's class, so
``"myproject.middleware.Timing"`` covers every hook of that middleware, the
inherited ones included.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from .. import conf
from ..db.task_local import is_async_alias

__all__ = [
    "NATIVE_VIEW_ATTRIBUTE",
    "code_paths",
    "native_view",
    "receivers_run_in_bridge",
    "request_path_enabled",
    "reset",
    "runs_in_bridge",
    "view_runs_in_bridge",
]

NATIVE_VIEW_ATTRIBUTE = "_django_async_backend_native_view"
"""Set on a view (function or class) by :func:`native_view`."""

_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
_SESSION_READERS = (
    "django.contrib.sessions.middleware.",
    "django.contrib.auth.middleware.",
    "django.contrib.messages.middleware.",
)


def native_view(view: Any) -> Any:
    """Run this sync view (a function or a class-based view) in the bridge.

    Its ORM calls then use the request task's async connection, with no
    thread: database I/O is native, without rewriting the view. The price:
    anything else the view blocks on (an HTTP call, a file, a cache on the
    network) blocks the event loop, and every request it serves, meanwhile.
    """
    setattr(view, NATIVE_VIEW_ATTRIBUTE, True)
    return view


# -- naming code -------------------------------------------------------------


def _path(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return None


def code_paths(func: Any) -> tuple[str, ...]:
    """The dotted paths naming the code ``func`` runs (see the module doc)."""
    while isinstance(func, functools.partial):
        func = func.func
    function = getattr(func, "__func__", func)
    paths = []
    path = _path(function)
    if path is None or not (
        inspect.isfunction(function) or inspect.isbuiltin(function)
    ):
        # A callable object: its class's __call__ runs.
        type_path = _path(type(func))
        path = path or (f"{type_path}.__call__" if type_path else None)
    if path:
        paths.append(path)
    owner = getattr(func, "__self__", None)
    name = getattr(function, "__name__", None)
    if owner is not None and name and not inspect.ismodule(owner):
        cls = owner if isinstance(owner, type) else type(owner)
        class_path = _path(cls)
        if class_path and f"{class_path}.{name}" not in paths:
            paths.append(f"{class_path}.{name}")
    return tuple(paths)


def _listed(paths: Iterable[str], prefixes: tuple[str, ...]) -> bool:
    for path in paths:
        for prefix in prefixes:
            if not prefix or path == prefix or path.startswith(prefix + "."):
                return True
    return False


# -- what blocks, by configuration ---------------------------------------------


@functools.cache
def _cache_blocks(alias: str) -> bool:
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    return backend not in _LOCAL_CACHES


@functools.cache
def _session_storage_blocks() -> bool:
    """Whether loading or saving a session does non-database I/O."""
    from django.contrib.sessions.backends import cache, cached_db, db, signed_cookies

    try:
        store = import_string(settings.SESSION_ENGINE).SessionStore
    except (ImportError, AttributeError):
        return True
    if issubclass(store, signed_cookies.SessionStore):
        return False
    if issubclass(store, (cached_db.SessionStore, cache.SessionStore)):
        return _cache_blocks(settings.SESSION_CACHE_ALIAS)
    return not issubclass(store, db.SessionStore)


def _blocks_by_configuration(path: str) -> bool:
    if path.startswith(_SESSION_READERS):
        return _session_storage_blocks()
    if path.startswith("django.middleware.csrf."):
        return settings.CSRF_USE_SESSIONS and _session_storage_blocks()
    if path.startswith("django.middleware.cache."):
        return _cache_blocks(settings.CACHE_MIDDLEWARE_ALIAS)
    return path.startswith("django.contrib.staticfiles.")


def _ours_by_default(paths: tuple[str, ...]) -> bool:
    path = paths[0]
    if path.startswith("django.core.cache.backends."):
        # A cache's own method (BaseCache's a-methods hand them over):
        # memory only, or it is network or file I/O.
        return any(p.startswith(_LOCAL_CACHES) for p in paths)
    return path.startswith(("django.", "django_async_backend.")) and (
        not _blocks_by_configuration(path)
    )


# -- decisions ---------------------------------------------------------------


@functools.cache
def _all_aliases_async() -> bool:
    from django.db import connections

    return all(is_async_alias(alias) for alias in connections.settings)


def request_path_enabled() -> bool:
    """Whether the request path's sync code may run in the bridge at all."""
    setting = conf.native_request_setting()
    if setting is None:
        return _all_aliases_async()
    return setting


@functools.lru_cache(maxsize=4096)
def _decide(paths: tuple[str, ...]) -> bool:
    if _listed(paths, conf.thread_calls()):
        return False
    if _listed(paths, conf.native_calls()):
        return True
    return bool(paths) and _ours_by_default(paths)


_by_code: dict[tuple[Any, type], bool] = {}


def _decide_for(func: Any) -> bool:
    # Keyed by the function and the class of the object it is bound to: the
    # same hook of the same middleware is decided once, not per request.
    owner = getattr(func, "__self__", None)
    key = (getattr(func, "__func__", func), type(owner))
    try:
        return _by_code[key]
    except (KeyError, TypeError):  # TypeError: an unhashable callable
        decision = _decide(code_paths(func))
        if len(_by_code) < 4096:
            try:
                _by_code[key] = decision
            except TypeError:
                pass
        return decision


def runs_in_bridge(func: Callable[..., Any]) -> bool:
    """Whether the sync callable ``func`` of the request path runs in the
    bridge (rather than in a thread)."""
    return request_path_enabled() and _decide_for(func)


def receivers_run_in_bridge(receivers: Iterable[Callable[..., Any]]) -> bool:
    """Whether every one of these sync signal receivers may run in the bridge.

    They are called one after the other by one call (``Signal.asend``'s sync
    half, ``Signal.send`` inside ``response.close()``), so one receiver that
    must not run on the event loop keeps them all on Django's thread path.
    """
    return request_path_enabled() and all(
        _decide_for(receiver) for receiver in receivers
    )


def _view_paths(view: Any) -> tuple[str, ...]:
    paths: list[str] = []
    current = view
    while current is not None:
        paths.extend(code_paths(current))
        view_class = getattr(current, "view_class", None)
        if view_class is not None and _path(view_class):
            paths.append(_path(view_class))  # type: ignore[arg-type]
        current = getattr(current, "__wrapped__", None)
    return tuple(paths)


def _marked_native(view: Any) -> bool:
    current = view
    while current is not None:
        if getattr(current, NATIVE_VIEW_ATTRIBUTE, False):
            return True
        view_class = getattr(current, "view_class", None)
        if view_class is not None and getattr(view_class, NATIVE_VIEW_ATTRIBUTE, False):
            return True
        current = getattr(current, "__wrapped__", None)
    return False


def view_runs_in_bridge(view: Callable[..., Any]) -> bool:
    """Whether a sync view runs in the bridge (it is opted in)."""
    if not request_path_enabled():
        return False
    paths = _view_paths(view)
    if _listed(paths, conf.thread_calls()):
        return False
    return _marked_native(view) or _listed(paths, conf.native_sync_views())


def reset() -> None:
    """Forget cached decisions (settings changed)."""
    _decide.cache_clear()
    _by_code.clear()
    _cache_blocks.cache_clear()
    _session_storage_blocks.cache_clear()
    _all_aliases_async.cache_clear()
