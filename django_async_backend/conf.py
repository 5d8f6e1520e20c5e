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
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "keep_connection_seconds",
    "native_orm_enabled",
    "request_signals_enabled",
    "reset",
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


def reset() -> None:
    """Forget cached values (settings changed)."""
    _flag.cache_clear()
    keep_connection_seconds.cache_clear()
