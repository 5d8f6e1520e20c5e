"""Django's ASGI request path, run on the request's task (no thread hop).

Django's async request path (``ASGIHandler``, ``BaseHandler``, the
middleware mix-in, ``Signal.asend``, the test client) calls sync code
through ``sync_to_async``, looked up in each module's globals when it runs.
As :mod:`django_async_backend.models.native` does for the ORM, this module
swaps that one name, in those modules only, for a function that runs the
same sync code in the greenlet bridge when :mod:`.policy` says it may, and
otherwise is asgiref's ``sync_to_async``. Django's handler and middleware run
unchanged; only where their sync parts run changes.

In the bridge, the sync code runs on the request's task: Django's
``close_old_connections`` and ``reset_queries`` act on the task's async
connections (see ``db/task_local.py``), session and auth middleware query
on the task's connection, and a receiver of ``Signal.asend`` (for example
``update_last_login`` from ``alogin``) runs inside the caller's
``async_atomic`` block.

Also here, because Django refuses it for async views: ``ATOMIC_REQUESTS``
wraps an ``async def`` view in ``async_atomic`` for the aliases on async
ENGINEs (``non_atomic_requests`` honoured).
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref import sync as asgiref_sync
from asgiref.sync import iscoroutinefunction
from django.core.handlers import base as handlers_base

from ..db.bridge import greenlet_spawn
from ..db.scope import current_scope, delegate_scope
from ..db.task_local import is_async_alias
from . import policy

__all__ = [
    "REQUEST_MODULES",
    "install",
    "request_sync_to_async",
    "uninstall",
    "view_sync_to_async",
]

# Modules of the request path whose ``sync_to_async`` is swapped, and the
# app that must be installed for the module to be importable.
REQUEST_MODULES: dict[str, str | None] = {
    "django.core.handlers.asgi": None,
    "django.core.handlers.exception": None,
    "django.utils.deprecation": None,
    "django.dispatch.dispatcher": None,
    "django.test.client": None,
    "django.contrib.auth.middleware": "django.contrib.auth",
    "django.contrib.auth.decorators": "django.contrib.auth",
    # The caches' a-methods (a cache session engine calls them).
    "django.core.cache.backends.base": None,
}
# In BaseHandler, sync_to_async also wraps the view: that module gets
# view_sync_to_async, which tells views from the handler's own call sites.
BASE_MODULE = "django.core.handlers.base"

_originals: dict[tuple[str, str], Any] = {}


def _signal_receivers(func: Any) -> list[Any] | None:
    """The receivers of ``Signal.asend``'s sync half, if ``func`` is it.

    Django groups a signal's sync receivers in a closure (``sync_send``)
    that it wraps with ``sync_to_async``; its ``sync_receivers`` variable is
    the list it will call.
    """
    code = getattr(func, "__code__", None)
    if code is None or code.co_name != "sync_send":
        return None
    try:
        cell = func.__closure__[code.co_freevars.index("sync_receivers")]
    except (ValueError, TypeError, IndexError):
        return None
    return list(cell.cell_contents)


def _signal_of(func: Any) -> Any:
    """The signal whose ``asend`` built the closure ``func``."""
    code = func.__code__
    try:
        return func.__closure__[code.co_freevars.index("self")].cell_contents
    except (ValueError, TypeError, IndexError):
        return None


def _request_used_its_thread() -> bool:
    """Whether sync code of the current request ran in its thread.

    Django runs a request's thread-sensitive sync code in one thread, in
    order. A request that ends early (the client went away) may still have
    code running there, on the request (its body, its session); Django's
    request_finished, queued behind it in that thread, waits for it. The end
    of such a request keeps that order: it takes the thread path too. (A
    request that ends normally has awaited all its thread work already.)
    """
    context = asgiref_sync.SyncToAsync.thread_sensitive_context.get(None)
    return (
        context is not None
        and context in asgiref_sync.SyncToAsync.context_to_thread_executor
    )


def _request_finished_receivers(response: Any) -> list[Any]:
    from django.core.signals import request_finished

    sender = getattr(response, "_handler_class", None)
    sync_receivers, _ = request_finished._live_receivers(sender)
    return sync_receivers


def _is_middleware_chain(func: Any) -> bool:
    """A sync-only middleware (or the rest of the chain) being adapted.

    It calls the rest of the chain synchronously, through ``async_to_sync``,
    which cannot run on the event loop's thread: it keeps the thread path.
    """
    target = getattr(func, "__wrapped__", func)
    return hasattr(target, "get_response") and not hasattr(func, "__func__")


def _bridged(func: Any) -> bool:
    """Whether this call site of the request path runs in the bridge."""
    if not policy.request_path_enabled():
        return False
    from django.core.signals import request_finished

    receivers = _signal_receivers(func)
    if receivers is not None:
        if _signal_of(func) is request_finished and _request_used_its_thread():
            return False
        return policy.receivers_run_in_bridge(receivers)
    owner = getattr(func, "__self__", None)
    name = getattr(func, "__name__", None)
    if name == "close" and owner is not None and hasattr(owner, "_resource_closers"):
        # response.close() sends request_finished: its receivers decide too.
        return policy.runs_in_bridge(func) and policy.receivers_run_in_bridge(
            _request_finished_receivers(owner)
        )
    if name == "process_exception_by_middleware" and isinstance(
        owner, handlers_base.BaseHandler
    ):
        return policy.runs_in_bridge(func) and all(
            policy.runs_in_bridge(method) for method in owner._exception_middleware
        )
    if _is_middleware_chain(func):
        return False
    return policy.runs_in_bridge(func)


def _while_handling(
    exception: BaseException, func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    try:
        raise exception
    except BaseException:
        return func(*args, **kwargs)


async def _for_caller(
    scope: Any, func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    # Django 5.2's asend gathers the sync half in a task of its own: it acts
    # for the calling task, whose connections (and transaction) it uses.
    with delegate_scope(scope):
        return await greenlet_spawn(func, *args, **kwargs)


def _caller_scope() -> Any:
    try:
        return current_scope()
    except RuntimeError:
        return None


class _BridgeOrThread:
    """What the swapped ``sync_to_async`` returns: awaitable when called."""

    __slots__ = ("_func", "_options", "_view")

    def __init__(
        self, func: Callable[..., Any], options: dict[str, Any], *, view: bool
    ) -> None:
        self._func = func
        self._options = options
        self._view = view

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        func = self._func
        bridged = policy.view_runs_in_bridge(func) if self._view else _bridged(func)
        if not bridged:
            return asgiref_sync.sync_to_async(func, **self._options)(*args, **kwargs)
        handling = sys.exc_info()[1]
        if handling is not None:
            # As sync_to_async does: code called while an exception is being
            # handled (Django's exception handling, a got_request_exception
            # receiver reading sys.exc_info()) sees that exception.
            func = functools.partial(_while_handling, handling, func)
        if _signal_receivers(self._func) is not None:
            return _for_caller(_caller_scope(), func, *args, **kwargs)
        return greenlet_spawn(func, *args, **kwargs)


def request_sync_to_async(
    func: Callable[..., Any] | None = None, /, **options: Any
) -> Any:
    """``sync_to_async`` for the request path's modules (see module doc).

    Takes ``sync_to_async``'s keyword arguments; they apply when the call
    keeps Django's thread path.
    """
    if func is None:
        return lambda f: _BridgeOrThread(f, options, view=False)
    return _BridgeOrThread(func, options, view=False)


def _is_handler_call_site(func: Any) -> bool:
    """In ``BaseHandler``: its own call sites, as opposed to the view."""
    if hasattr(func, "__func__"):
        return True  # middleware hooks, response.render, exception handling
    if getattr(func, "__module__", None) == "django.utils.log":
        return True  # log_response
    return _is_middleware_chain(func)


def view_sync_to_async(
    func: Callable[..., Any] | None = None, /, **options: Any
) -> Any:
    """``sync_to_async`` for ``django.core.handlers.base``: the view is one
    of the things it wraps, and views follow their own opt-in."""
    if func is None:
        return lambda f: view_sync_to_async(f, **options)
    return _BridgeOrThread(func, options, view=not _is_handler_call_site(func))


_original_make_view_atomic = handlers_base.BaseHandler.make_view_atomic


def make_view_atomic(self: Any, view: Callable[..., Any]) -> Callable[..., Any]:
    """``BaseHandler.make_view_atomic``, able to wrap ``async def`` views.

    Django raises ``RuntimeError`` for ``ATOMIC_REQUESTS`` with an async view
    because it has no async transaction. On an async ENGINE there is one:
    the view runs inside ``async_atomic`` for each alias that asks for it
    (``non_atomic_requests`` honoured), so its queries share one
    transaction, committed when the view returns, and ``on_commit``
    callbacks run after that commit. Sync views, and aliases on other
    ENGINEs, get Django's own behaviour.
    """
    if not iscoroutinefunction(view):
        return _original_make_view_atomic(self, view)
    from django.db import connections

    from ..db.transaction import async_atomic

    non_atomic: set[str] = getattr(view, "_non_atomic_requests", set())
    wanted = [
        alias
        for alias, settings_dict in connections.settings.items()
        if settings_dict["ATOMIC_REQUESTS"] and alias not in non_atomic
    ]
    if not wanted or not all(is_async_alias(alias) for alias in wanted):
        return _original_make_view_atomic(self, view)
    for alias in wanted:
        view = async_atomic(using=alias)(view)
    return view


def _swap(module_name: str, name: str, replacement: Any) -> None:
    module = importlib.import_module(module_name)
    key = (module_name, name)
    if key not in _originals:
        _originals[key] = getattr(module, name)
    setattr(module, name, replacement)


def install() -> None:
    """Swap in the native request path (idempotent). Called by ready()."""
    from django.apps import apps

    for module_name, app in REQUEST_MODULES.items():
        if app is not None and not apps.is_installed(app):
            continue
        module = importlib.import_module(module_name)
        if hasattr(module, "sync_to_async"):
            _swap(module_name, "sync_to_async", request_sync_to_async)
    _swap(BASE_MODULE, "sync_to_async", view_sync_to_async)
    handlers_base.BaseHandler.make_view_atomic = make_view_atomic


def uninstall() -> None:
    """Put Django's own functions back."""
    for (module_name, name), original in _originals.items():
        module = sys.modules.get(module_name)
        if module is not None:
            setattr(module, name, original)
    _originals.clear()
    handlers_base.BaseHandler.make_view_atomic = _original_make_view_atomic
