"""Settings of the end-to-end benchmark's servers, per contender.

A project as ``startproject`` makes it (its middleware, sessions, auth,
messages), serving the benchmark's models. ``BENCH_E2E_CONTENDER`` picks the
ENGINE and apps:

* ``ours``: our ENGINE, ``django_async_backend`` installed (the native ORM
  and request path);
* ``stock_async``: Django's PostgreSQL backend under Django's ASGI handler;
* ``upstream``: the PyPI django-async-backend (in its own virtualenv);
* ``stock_sync``: Django's PostgreSQL backend under a WSGI server.

Every contender gets the same pool (at most ``BENCH_POOL_MAX`` connections).
"""

from __future__ import annotations

import os

CONTENDER = os.environ.get("BENCH_E2E_CONTENDER", "ours")
POOL = {"min_size": 1, "max_size": int(os.environ.get("BENCH_POOL_MAX", "20"))}

SECRET_KEY = "benchmarks-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "benchmarks.app",
]
if CONTENDER in ("ours", "upstream"):
    INSTALLED_APPS.append("django_async_backend")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "benchmarks.e2e.urls"

DATABASES = {
    "default": {
        "ENGINE": (
            "django_async_backend.db.backends.postgresql"
            if CONTENDER in ("ours", "upstream")
            else "django.db.backends.postgresql"
        ),
        "NAME": os.environ.get("BENCH_DB", "dab_bench_e2e"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"pool": dict(POOL)},
    }
}
