"""Settings of the example project: a library catalogue served over ASGI.

The database is ``DATABASE_URL`` when set (``postgresql://...``,
``sqlite:///...`` or a libSQL server, ``libsql://host:port?authToken=...``),
else an SQLite file in ``examples/var/``: nothing to configure to try it.
``scripts/example --libsql`` starts a sqld and sets ``DATABASE_URL`` to it.
"""

from __future__ import annotations

import os
from pathlib import Path

from django_async_backend.utils.database_url import parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("EXAMPLE_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django_async_backend",
    "catalog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "library.urls"
ASGI_APPLICATION = "library.asgi.application"

SQLITE_FILE = BASE_DIR / "var" / "library.sqlite3"
DATABASES = {
    "default": parse_database_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{SQLITE_FILE}"
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # One psycopg_pool.AsyncConnectionPool per event loop; closed on shutdown
    # by the ASGI lifespan handler (library/asgi.py).
    DATABASES["default"]["OPTIONS"].setdefault("pool", {"min_size": 2, "max_size": 10})
else:
    # SQLite and libSQL: keep a finished request's connection (a worker
    # thread, or a kept-alive HTTP connection to the server) for the next one
    # instead of opening a new one per request.
    DATABASES["default"]["CONN_MAX_AGE"] = 60

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"catalog": {"handlers": ["console"], "level": "INFO"}},
}
