"""Django settings of a libSQL benchmark client process.

``BENCH_LIBSQL_CONTENDER`` names the contender (:mod:`.contenders`),
``BENCH_LIBSQL_URL`` the sqld (``http://127.0.0.1:PORT``; the WebSocket peer
gets the same address as ``ws://``). The data set's models (``benchmarks.app``)
and the conformance checks' models (``benchmarks.libsql.app``) are installed
for every contender; ``django_async_backend`` only for ours.
"""

from __future__ import annotations

import os

from benchmarks.libsql.contenders import CONTENDERS

CONTENDER = CONTENDERS[os.environ.get("BENCH_LIBSQL_CONTENDER", "ours_sync")]
URL = os.environ.get("BENCH_LIBSQL_URL", "http://127.0.0.1:8080")

SECRET_KEY = "benchmarks-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEBUG = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": CONTENDER.engine,
        "NAME": URL.replace("http://", "ws://", 1) if CONTENDER.ws else URL,
        # Persistent connections (as a threaded deployment would run): each
        # thread keeps its connection across requests.
        "CONN_MAX_AGE": 600,
    }
}

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "benchmarks.app",
    "benchmarks.libsql.app",
]
if CONTENDER.ours:
    INSTALLED_APPS.insert(0, "django_async_backend")
