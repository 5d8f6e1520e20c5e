"""The package's own settings, read once and re-read when tests change them.

``ASYNC_BACKEND_NATIVE_ORM`` (default ``True``)
    Run Django's async ORM methods natively on async connections. ``False``
    restores Django's own behaviour (each call hops to a thread with
    ``sync_to_async``).

``ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS`` (default ``False``)
    Don't release connections on Django's ``request_started`` /
    ``request_finished`` signals (the upstream project's name for it).
    Connections are still released when their task ends.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["native_orm_enabled", "request_signals_enabled", "reset"]

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


def native_orm_enabled() -> bool:
    """Whether async ORM methods run natively (``ASYNC_BACKEND_NATIVE_ORM``)."""
    return _flag("ASYNC_BACKEND_NATIVE_ORM")


def request_signals_enabled() -> bool:
    """Whether request signals release connections."""
    return not _flag("ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS")


def reset() -> None:
    """Forget cached values (settings changed)."""
    _flag.cache_clear()
