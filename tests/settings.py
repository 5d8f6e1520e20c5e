"""Settings for the test suite.

The database comes from ``DATABASE_URL`` or the ``PG*`` variables (see
``django_async_backend.utils.database_url``); the test runner creates
``test_<NAME>`` and ``test_<NAME>_other`` on that server.

With ``DATABASE_URL=sqlite:///path/name.sqlite3`` both aliases use the SQLite
ENGINE, on the files ``path/test_name.sqlite3`` and
``path/test_name_other.sqlite3``; with ``sqlite://:memory:`` on two in-memory
databases.

With ``DATABASE_URL=libsql://127.0.0.1:PORT?admin_url=http://127.0.0.1:ADMIN``
(``scripts/sqld --namespaces``) both aliases use the libSQL ENGINE's remote
mode, each on a namespace of its own (``test_default``, ``test_other``)
that the test runner creates and deletes.
"""

import os

from django_async_backend.utils.database_url import database_from_env

SECRET_KEY = "tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEBUG = False

_default = database_from_env(default_name="django_async_backend")
_other = {**_default, "OPTIONS": dict(_default["OPTIONS"])}
if _default["ENGINE"].endswith("sqlite3"):
    if _default["NAME"] == ":memory:":
        _default["TEST"] = _other["TEST"] = {"NAME": None}
    else:
        _directory, _file = os.path.split(os.path.abspath(_default["NAME"]))
        _stem, _extension = os.path.splitext(_file)
        _default["TEST"] = {
            "NAME": os.path.join(_directory, f"test_{_stem}{_extension}")
        }
        _other["TEST"] = {
            "NAME": os.path.join(_directory, f"test_{_stem}_other{_extension}")
        }
elif _default["ENGINE"].endswith("libsql"):
    _default["TEST"] = {"NAME": f"{_default['NAME']}?namespace=test_default"}
    _other["TEST"] = {"NAME": f"{_default['NAME']}?namespace=test_other"}
else:
    _default["TEST"] = {"NAME": f"test_{_default['NAME']}"}
    _other["TEST"] = {"NAME": f"test_{_default['NAME']}_other"}

# Through PgBouncer in transaction mode (scripts/test's PgBouncer stage, see
# tests/db/backends/postgresql/pgbouncer.py): the README's settings for it.
if os.environ.get("DAB_TEST_PGBOUNCER") == "transaction":
    for _entry in (_default, _other):
        _entry["DISABLE_SERVER_SIDE_CURSORS"] = True
        _entry["OPTIONS"] = {**_entry["OPTIONS"], "prepared_statements": False}

DATABASES = {"default": _default, "other": _other}

# The shared suite on the libSQL ENGINE's embedded-replica mode (part C of
# issue 11; additive): DAB_TEST_LIBSQL_REPLICA="http://127.0.0.1:P1
# http://127.0.0.1:P2", two plain sqld servers (``scripts/sqld`` twice; a
# replica cannot sync from a namespace), one primary per alias. The replica
# files go to DAB_TEST_LIBSQL_REPLICA_DIR (default: a temporary directory).
if os.environ.get("DAB_TEST_LIBSQL_REPLICA"):
    import tempfile

    _primaries = os.environ["DAB_TEST_LIBSQL_REPLICA"].split()
    _replica_dir = os.environ.get("DAB_TEST_LIBSQL_REPLICA_DIR") or tempfile.mkdtemp(
        prefix="dab-replica-"
    )
    DATABASES = {
        _alias: {
            "ENGINE": "django_async_backend.db.backends.libsql",
            "NAME": os.path.join(_replica_dir, f"{_alias}.db"),
            "SYNC_URL": _url,
            "TEST": {"NAME": os.path.join(_replica_dir, f"test_{_alias}.db")},
        }
        for _alias, _url in zip(("default", "other"), _primaries, strict=True)
    }

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "django.contrib.flatpages",
    "django.contrib.redirects",
    "django_async_backend",
    "tests.app",
    "chaos",  # the chaos suite's workload (tests/chaos)
]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

ROOT_URLCONF = "tests.urls"
SITE_ID = 1
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
MIDDLEWARE: list[str] = []
