"""Pass "sqlite": the suite on Django's own SQLite backend (the libSQL baseline).

Django's ``tests/test_sqlite.py``: ``default`` and ``other`` on in-memory test
databases. The libSQL pass (``settings.libsql``) runs the same labels with the
same options beside it (``python -m tests_django.libsql``).
"""

from .common import *  # noqa: F403

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3"},
    "other": {"ENGINE": "django.db.backends.sqlite3"},
}
