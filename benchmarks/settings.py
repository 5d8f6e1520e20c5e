"""Django settings of a benchmark client process, per contender.

``BENCH_CONTENDER`` picks the ENGINE and apps: ``ours`` is our ENGINE with
``django_async_backend`` installed (the native ORM path); ``stock_async`` and
``stock_sync`` are Django's PostgreSQL backend; ``upstream`` is the PyPI
package's ENGINE (in its own virtualenv). Every contender gets the same pool
size, so the server sees the same number of connections at most.
"""

from __future__ import annotations

import os

CONTENDER = os.environ.get("BENCH_CONTENDER", "stock_sync")
POOL = {"min_size": 1, "max_size": int(os.environ.get("BENCH_POOL_MAX", "20"))}

SECRET_KEY = "benchmarks-only"
USE_TZ = True
DEBUG = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

ENGINE = {
    "ours": "django_async_backend.db.backends.postgresql",
    "upstream": "django_async_backend.db.backends.postgresql",
}.get(CONTENDER, "django.db.backends.postgresql")


def database(engine: str, default_name: str) -> dict[str, object]:
    """A ``DATABASES`` entry on the benchmark server (``BENCH_DB``, ``PG*``)."""
    return {
        "ENGINE": engine,
        "NAME": os.environ.get("BENCH_DB", default_name),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"pool": dict(POOL)},
    }


DATABASES = {"default": database(ENGINE, "dab_bench")}

INSTALLED_APPS = ["benchmarks.app"]
if CONTENDER in ("ours", "upstream"):
    INSTALLED_APPS.insert(0, "django_async_backend")

# A knob for experiments (see profile.md): how long a finished task's pooled
# connection is kept for the next task; our ENGINE's default is 2.0 s.
if "BENCH_KEEP_CONNECTION_SECONDS" in os.environ:
    ASYNC_BACKEND_KEEP_CONNECTION_SECONDS = float(
        os.environ["BENCH_KEEP_CONNECTION_SECONDS"]
    )
