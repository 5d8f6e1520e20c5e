"""The package's own settings, read once and re-read when tests change them.

``ASYNC_BACKEND_NATIVE_ORM`` (default ``True``)
    Run Django's async ORM methods natively on async connections. ``False``
    restores Django's own behaviour (each call hops to a thread with
    ``sync_to_async``).

``ASYNC_BACKEND_KEEP_CONNECTION_SECONDS`` (default ``2.0``)
    How long a finished task's clean connection is kept for the next task of
    the same event loop before it goes back to its pool (or, with
    ``CONN_MAX_AGE = 0`` and no pool, is closed at once anyway). ``0``
    returns connections to the pool the moment their task ends.

``ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS`` (default ``False``)
    Don't release connections on Django's ``request_started`` /
    ``request_finished`` signals (the upstream project's name for it).
    Connections are still released when their task ends.

``ASYNC_BACKEND_NATIVE_REQUEST`` (default ``None``: automatic)
    Run the sync code of Django's request path (middleware hooks, request
    signal receivers, ``response.close()``, ...) in the bridge instead of a
    thread (see ``handlers/policy.py``). ``None`` turns it on when every
    database alias is on an async ENGINE; ``True`` and ``False`` force it.

``ASYNC_BACKEND_NATIVE_CALLS`` (default ``()``)
    Dotted paths (modules, classes, functions) of more sync code to run in
    the bridge: third-party middleware and receivers known not to block on
    non-database I/O; or ``"__all__"`` for every sync call site of the
    request path (sync views excepted).

``ASYNC_BACKEND_THREAD_CALLS`` (default ``()``)
    Dotted paths of sync code that keeps Django's thread path even where the
    default (or ``ASYNC_BACKEND_NATIVE_CALLS``) would run it in the bridge.

``ASYNC_BACKEND_NATIVE_SYNC_VIEWS`` (default ``False``)
    Run plain ``def`` views in the bridge: ``True`` for all of them, or a
    list of dotted paths (view functions or classes).
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "keep_connection_seconds",
    "native_calls",
    "native_orm_enabled",
    "native_request_setting",
    "native_sync_views",
    "request_signals_enabled",
    "reset",
    "thread_calls",
    "validate",
]

_SETTINGS = {
    "ASYNC_BACKEND_NATIVE_ORM": True,
    "ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS": False,
}


@functools.cache
def _flag(name: str) -> bool:
    value = getattr(settings, name, _SETTINGS[name])
    if not isinstance(value, bool):
        raise ImproperlyConfigured(
            f"settings.{name} must be True or False, not {value!r}."
        )
    return value


@functools.cache
def keep_connection_seconds() -> float:
    """``ASYNC_BACKEND_KEEP_CONNECTION_SECONDS``, validated."""
    name = "ASYNC_BACKEND_KEEP_CONNECTION_SECONDS"
    value = getattr(settings, name, 2.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ImproperlyConfigured(
            f"settings.{name} must be a number of seconds >= 0 (0 returns "
            f"connections to the pool as soon as their task ends), not {value!r}."
        )
    return float(value)


def native_orm_enabled() -> bool:
    """Whether async ORM methods run natively (``ASYNC_BACKEND_NATIVE_ORM``)."""
    return _flag("ASYNC_BACKEND_NATIVE_ORM")


def request_signals_enabled() -> bool:
    """Whether request signals release connections."""
    return not _flag("ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS")


def _dotted_paths(name: str, value: object, *, allow_all: bool) -> tuple[str, ...]:
    if allow_all and value == "__all__":
        return ("",)  # the empty prefix matches every path
    if isinstance(value, (list, tuple)) and all(
        isinstance(item, str) and item for item in value
    ):
        return tuple(value)
    also = ' or "__all__"' if allow_all else ""
    raise ImproperlyConfigured(
        f"settings.{name} must be a list of dotted paths (e.g. "
        f'["myproject.middleware.TimingMiddleware"]){also}, not {value!r}.'
    )


@functools.cache
def native_request_setting() -> bool | None:
    """``ASYNC_BACKEND_NATIVE_REQUEST``: True, False or None (automatic)."""
    name = "ASYNC_BACKEND_NATIVE_REQUEST"
    value = getattr(settings, name, None)
    if value is not None and not isinstance(value, bool):
        raise ImproperlyConfigured(
            f"settings.{name} must be True, False or None (on when every "
            f"database alias is on an async ENGINE), not {value!r}."
        )
    return value


@functools.cache
def native_calls() -> tuple[str, ...]:
    """``ASYNC_BACKEND_NATIVE_CALLS`` as prefixes (``("",)`` for all)."""
    name = "ASYNC_BACKEND_NATIVE_CALLS"
    return _dotted_paths(name, getattr(settings, name, ()), allow_all=True)


@functools.cache
def thread_calls() -> tuple[str, ...]:
    """``ASYNC_BACKEND_THREAD_CALLS`` as prefixes."""
    name = "ASYNC_BACKEND_THREAD_CALLS"
    return _dotted_paths(name, getattr(settings, name, ()), allow_all=False)


@functools.cache
def native_sync_views() -> tuple[str, ...]:
    """``ASYNC_BACKEND_NATIVE_SYNC_VIEWS`` as prefixes (``("",)`` for all)."""
    name = "ASYNC_BACKEND_NATIVE_SYNC_VIEWS"
    value = getattr(settings, name, False)
    if value is True:
        return ("",)
    if value is False:
        return ()
    if isinstance(value, (list, tuple)) and all(
        isinstance(item, str) and item for item in value
    ):
        return tuple(value)
    raise ImproperlyConfigured(
        f"settings.{name} must be True, False or a list of dotted paths of "
        f'views (e.g. ["myapp.views.report"]), not {value!r}.'
    )


def validate() -> None:
    """Check every setting of the package now (raises ImproperlyConfigured)."""
    for name in _SETTINGS:
        _flag(name)
    keep_connection_seconds()
    native_request_setting()
    native_calls()
    thread_calls()
    native_sync_views()


def reset() -> None:
    """Forget cached values (settings changed)."""
    _flag.cache_clear()
    keep_connection_seconds.cache_clear()
    native_request_setting.cache_clear()
    native_calls.cache_clear()
    thread_calls.cache_clear()
    native_sync_views.cache_clear()
