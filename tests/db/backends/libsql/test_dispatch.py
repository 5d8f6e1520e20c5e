"""base.py: one ENGINE, the mode's wrapper class from the settings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_async_backend.db.backends.libsql.base import (
    DatabaseWrapper,
    LibSQLWrapperMixin,
)
from django_async_backend.db.backends.libsql.remote.base import (
    DatabaseWrapper as RemoteWrapper,
)
from django_async_backend.db.backends.sqlite3.base import (
    DatabaseWrapper as SQLiteWrapper,
)

from .helpers import libsql_settings


def test_remote_name_gives_the_remote_wrapper():
    conn = DatabaseWrapper(libsql_settings("libsql://db-me.turso.io"), "x")
    assert type(conn) is RemoteWrapper
    assert isinstance(conn, LibSQLWrapperMixin)
    assert conn.display_name == "libSQL"


def test_local_name_is_the_sqlite_engine(tmp_path):
    conn = DatabaseWrapper(libsql_settings(str(tmp_path / "db.sqlite3")), "x")
    assert type(conn) is DatabaseWrapper
    assert isinstance(conn, SQLiteWrapper) and isinstance(conn, LibSQLWrapperMixin)


def test_errors_surface_when_the_wrapper_is_made():
    with pytest.raises(ImproperlyConfigured, match="SYNC_URL"):
        DatabaseWrapper(
            libsql_settings("libsql://db.turso.io", SYNC_URL="libsql://x.turso.io"),
            "x",
        )


def test_remote_engine_refuses_a_file(tmp_path):
    settings = libsql_settings(str(tmp_path / "db.sqlite3"))
    settings["ENGINE"] = "django_async_backend.db.backends.libsql.remote"
    conn = RemoteWrapper(settings, "x")
    with pytest.raises(ImproperlyConfigured, match="libsql.remote"):
        conn.get_connection_params()
