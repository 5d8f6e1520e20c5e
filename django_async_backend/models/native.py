"""Django's async ORM methods, run natively on async connections.

Every async ORM method in Django (``aget``, ``acreate``, ``asave``, related
managers' ``aadd``, ``aprefetch_related_objects``, ``async for`` over a
queryset, ...) is a thin shell: it calls the sync method through
``sync_to_async``, which hops to a worker thread. The shell looks
``sync_to_async`` up in its module's globals when it runs.

So the native path swaps that one name, in the ORM's modules only, for
:func:`native_sync_to_async`: when the call's database alias is on an async
ENGINE it runs the very same sync method in the greenlet bridge, on the
calling task's connection (and inside its ``async_atomic`` block), with no
thread; otherwise it is asgiref's ``sync_to_async``. Django's method bodies
run unchanged, and new a-methods in future Django releases are covered
without a line here.

Deliberately left alone:

* ``django.contrib.auth.hashers``: ``acheck_password`` hashes in a thread on
  purpose (CPU work must not block the event loop); the database work around
  it (``aget_by_natural_key``, ``asave``) is native.
* ``django.contrib.auth.backends``: its base ``aauthenticate`` runs a custom
  backend's sync ``authenticate()``, which may hash passwords; Django's
  ``ModelBackend`` overrides it with native a-methods.
* Lazy loading of an unfetched relation from async code still raises
  ``SynchronousOnlyOperation``: that is sync code called outside the bridge.

``ASYNC_BACKEND_NATIVE_ORM = False`` turns the native path off (Django's
thread path everywhere).

Inside the bridge, Django's ``Signal.send`` runs ``async def`` receivers with
``async_to_sync``, which refuses to run on an event loop's thread. In
``django.dispatch.dispatcher`` that name is swapped for
:func:`native_async_to_sync`, which awaits them through the bridge; tasks they
start act for the calling task's connections until the call returns, so the
receivers see (and join) its transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref import sync as asgiref_sync

from .. import conf
from ..db.bridge import await_only, greenlet_spawn, in_bridge
from ..db.scope import current_scope, delegate_scope
from ..db.task_local import is_async_alias
from ..utils.name_swap import NameSwap

__all__ = [
    "ORM_MODULES",
    "install",
    "native_async_to_sync",
    "native_sync_to_async",
    "uninstall",
]

# Modules whose async methods are sync_to_async shells around ORM work, and
# the app that must be installed for the module to be importable.
ORM_MODULES: dict[str, str | None] = {
    "django.db.models.query": None,
    "django.db.models.base": None,
    "django.db.models.fields.related_descriptors": None,
    "django.core.paginator": None,
    "django.contrib.contenttypes.fields": "django.contrib.contenttypes",
    "django.contrib.sessions.backends.base": "django.contrib.sessions",
    "django.contrib.sessions.backends.db": "django.contrib.sessions",
    "django.contrib.sessions.backends.cached_db": "django.contrib.sessions",
}
DISPATCH_MODULE = "django.dispatch.dispatcher"


def _alias_of(func: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
    """The database alias a sync ORM call will use, if it can be told."""
    from django.db import models, router
    from django.db.models.deletion import Collector

    target = getattr(func, "__self__", None)
    if target is None and args:
        target = args[0]
        if isinstance(target, (list, tuple)) and target:
            target = target[0]  # prefetch_related_objects(instances, ...)
    if isinstance(target, (models.QuerySet, models.query.RawQuerySet)):
        return target.db
    if isinstance(target, models.Manager):
        return target.db
    if isinstance(target, models.Model):
        return target._state.db or router.db_for_write(type(target), instance=target)
    if isinstance(target, Collector):  # an async on_delete handler's collect()
        return str(target.using)
    return None


@functools.lru_cache(maxsize=1)
def _all_aliases_async() -> bool:
    from django.db import connections

    return all(is_async_alias(alias) for alias in connections.settings)


def _runs_natively(func: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    if not conf.native_orm_enabled():
        return False
    alias = _alias_of(func, args)
    if alias is None:
        # A helper function (an iterator chunk, a closure): native when every
        # database is on an async ENGINE, else Django's thread path.
        return _all_aliases_async()
    return is_async_alias(alias)


class _NativeOrThread:
    """What :func:`native_sync_to_async` returns: awaitable when called."""

    __slots__ = ("_func", "_options")

    def __init__(self, func: Callable[..., Any], options: dict[str, Any]) -> None:
        self._func = func
        self._options = options

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        if _runs_natively(self._func, args):
            return greenlet_spawn(self._func, *args, **kwargs)
        return asgiref_sync.sync_to_async(self._func, **self._options)(*args, **kwargs)


def native_sync_to_async(
    func: Callable[..., Any] | None = None, /, **options: Any
) -> Any:
    """``sync_to_async`` that runs ORM calls natively (see module docstring).

    Accepts ``sync_to_async``'s keyword arguments (``thread_sensitive``,
    ``executor``); they apply when the call takes Django's thread path.
    """
    if func is None:
        return lambda f: _NativeOrThread(f, options)
    return _NativeOrThread(func, options)


def native_async_to_sync(
    awaitable: Callable[..., Awaitable[Any]], **options: Any
) -> Any:
    """``async_to_sync`` that, inside the bridge, awaits through it."""

    @functools.wraps(awaitable)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not in_bridge():
            return asgiref_sync.async_to_sync(awaitable, **options)(*args, **kwargs)
        with delegate_scope(current_scope()):
            return await_only(awaitable(*args, **kwargs))

    return call


_swaps = NameSwap()


def install() -> None:
    """Swap in the native path (idempotent). Called by the app's ready()."""
    _swaps.swap_in_modules(ORM_MODULES, "sync_to_async", native_sync_to_async)
    _swaps.swap(DISPATCH_MODULE, "async_to_sync", native_async_to_sync)


def uninstall() -> None:
    """Put Django's own functions back."""
    _swaps.restore()


def settings_changed() -> None:
    _all_aliases_async.cache_clear()
