"""Build a ``DATABASES`` entry from ``DATABASE_URL`` or libpq's ``PG*`` variables.

Used by the test settings and the example project, so that one environment
variable picks the server (``postgresql://user:pass@host:5432/name``) or the
embedded database (``sqlite:///path/to/file.sqlite3``), or a libSQL server
(``libsql://host:port?authToken=...``; ``libsql+http://`` and
``libsql+https://`` say the transport explicitly, any other query parameter
becomes an ``OPTIONS`` entry, e.g. ``namespace`` and ``admin_url``).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

__all__ = ["database_from_env", "parse_database_url"]

POSTGRESQL_ENGINE = "django_async_backend.db.backends.postgresql"
SQLITE_ENGINE = "django_async_backend.db.backends.sqlite3"
LIBSQL_ENGINE = "django_async_backend.db.backends.libsql"
LIBSQL_SCHEMES = {"libsql": "libsql", "libsql+http": "http", "libsql+https": "https"}


def parse_database_url(url: str) -> dict[str, Any]:
    """A ``DATABASES`` entry for ``url`` (PostgreSQL, SQLite or libSQL)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options: dict[str, Any] = dict(parse_qsl(parts.query))
    if scheme in ("postgres", "postgresql", "pgsql"):
        return {
            "ENGINE": POSTGRESQL_ENGINE,
            "NAME": unquote(parts.path.lstrip("/")) or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    if scheme == "sqlite":
        # As dj-database-url: sqlite:///relative.db, sqlite:////abs/path.db,
        # sqlite://:memory:
        path = unquote(parts.netloc + parts.path)
        if not parts.netloc and path.startswith("/"):
            path = path[1:]
        return {"ENGINE": SQLITE_ENGINE, "NAME": path or ":memory:", "OPTIONS": options}
    if scheme in LIBSQL_SCHEMES:
        entry: dict[str, Any] = {
            "ENGINE": LIBSQL_ENGINE,
            "NAME": f"{LIBSQL_SCHEMES[scheme]}://{parts.netloc}",
            "OPTIONS": options,
        }
        token = options.pop("authToken", None) or options.pop("auth_token", None)
        if token:
            entry["AUTH_TOKEN"] = token
        return entry
    raise ImproperlyConfigured(
        f"DATABASE_URL has an unsupported scheme {parts.scheme!r}: use "
        f"postgresql://user:password@host:port/name, sqlite:///path/to/db or "
        f"libsql://host:port."
    )


def database_from_env(default_name: str = "postgres") -> dict[str, Any]:
    """PostgreSQL settings from ``DATABASE_URL``, else from ``PG*`` variables.

    With neither set, libpq's defaults apply (local socket, current user).
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        return parse_database_url(url)
    return {
        "ENGINE": POSTGRESQL_ENGINE,
        "NAME": os.environ.get("PGDATABASE", default_name),
        "USER": os.environ.get("PGUSER", ""),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
        "OPTIONS": {},
    }
