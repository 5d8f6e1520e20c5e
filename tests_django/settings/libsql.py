"""Pass "libsql": the suite on our libSQL ENGINE, remote mode, on a local sqld.

``python -m tests_django.libsql`` starts sqld with namespaces and names it in
``DAB_TD_LIBSQL_URL`` and ``DAB_TD_LIBSQL_ADMIN_URL``. Each alias's test
database is a namespace of its own (the ENGINE's ``creation.py``), so
``default`` and ``other`` are separate databases, as on SQLite.
"""

import os

from .common import *  # noqa: F403

_URL = os.environ["DAB_TD_LIBSQL_URL"]
_ADMIN_URL = os.environ["DAB_TD_LIBSQL_ADMIN_URL"]


def _database(alias: str) -> dict[str, object]:
    return {
        "ENGINE": "django_async_backend.db.backends.libsql",
        "NAME": _URL,
        "OPTIONS": {"admin_url": _ADMIN_URL},
        "TEST": {"NAME": f"td_{alias}"},
    }


DATABASES = {"default": _database("default"), "other": _database("other")}
