"""The libSQL ENGINE's embedded-replica mode (``NAME`` a file + ``SYNC_URL``).

Usable on its own as ENGINE ``django_async_backend.db.backends.libsql.replica``;
the libSQL ENGINE's ``base.py`` dispatches here when ``SYNC_URL`` is set.
The SQLite ENGINE's wrapper and worker-thread driver run unchanged; only the
connection they open is a ``libsql`` embedded replica (``driver.py``) instead
of a ``sqlite3`` one.
"""
