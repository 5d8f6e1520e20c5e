"""Helpers for the libSQL ENGINE's own tests: servers, settings, connections.

These tests start sqld servers of their own (``tests/sqld.py``): auth,
restarts and lock steals need a server nobody else uses. They run with the
suite on libSQL (``DATABASE_URL=libsql://...``, scripts/test's libSQL
stage), or with ``DAB_LIBSQL_TESTS=1``; they need the sqld binary
(``scripts/sqld --install``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from django.db import connections

from django_async_backend.db.backends.base.wrapper import AsyncDatabaseWrapper
from django_async_backend.db.backends.libsql.base import DatabaseWrapper
from django_async_backend.db.backends.libsql.settings import parse_settings
from tests.sqld import sqld_binary

ENGINE = "django_async_backend.db.backends.libsql"


def _enabled() -> bool:
    if os.environ.get("DAB_LIBSQL_TESTS") == "1":
        return True
    return str(connections.settings["default"]["ENGINE"]).endswith("libsql")


libsql_suite = pytest.mark.skipif(
    not _enabled() or sqld_binary() is None,
    reason="libSQL tests run with the suite on libSQL (DATABASE_URL=libsql://...) "
    "or DAB_LIBSQL_TESTS=1, and need sqld (scripts/sqld --install)",
)


def libsql_settings(name: str, **extra: Any) -> dict[str, Any]:
    options = extra.pop("OPTIONS", {})
    entry = {"ENGINE": ENGINE, "NAME": name, "OPTIONS": options, **extra}
    return connections.configure_settings({"default": entry})["default"]


def sync_wrapper(name: str, **extra: Any) -> Any:
    """A sync (plain Django) connection to ``name``."""
    return DatabaseWrapper(libsql_settings(name, **extra), "libsql")


@asynccontextmanager
async def async_wrapper(name: str, **extra: Any) -> AsyncIterator[AsyncDatabaseWrapper]:
    """An async connection to ``name``, released at the end of the block."""
    face = DatabaseWrapper(libsql_settings(name, **extra), "libsql")._enable_async_mode()
    try:
        yield face
    finally:
        await face._release(final=True)


def settings_for(url: str, **extra: Any) -> Any:
    return parse_settings({"NAME": url, "OPTIONS": {}, **extra}, "libsql")
