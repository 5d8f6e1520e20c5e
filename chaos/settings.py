"""Django settings of a chaos run: chosen by environment variables that
:mod:`chaos.run` sets before Django starts."""

from __future__ import annotations

import os

SECRET_KEY = "chaos-only"
USE_TZ = True
DEBUG = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django_async_backend", "chaos"]

# A kept connection goes back to the pool after a second of quiet, so the
# "idle app after a restart" check finds the pool's own idle connections.
ASYNC_BACKEND_KEEP_CONNECTION_SECONDS = 1.0

POOL_MAX = int(os.environ.get("CHAOS_POOL_MAX", "20"))
POOL_TIMEOUT = float(os.environ.get("CHAOS_POOL_TIMEOUT", "3"))
STATEMENT_TIMEOUT = 5  # seconds: no query waits longer (row locks included)

if os.environ.get("CHAOS_BACKEND", "postgresql") == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django_async_backend.db.backends.sqlite3",
            "NAME": os.environ.get("CHAOS_SQLITE_PATH", "chaos.sqlite3"),
            "CONN_MAX_AGE": 60,  # the README's example, and bug 1's trigger
            "OPTIONS": {"timeout": STATEMENT_TIMEOUT},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django_async_backend.db.backends.postgresql",
            "NAME": "chaos",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": os.environ.get("CHAOS_PORT", "5432"),
            "OPTIONS": {
                "pool": {
                    "min_size": 10,
                    "max_size": POOL_MAX,
                    "timeout": POOL_TIMEOUT,
                },
                "connect_timeout": 3,
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT}s",
            },
        }
    }
