"""What a libSQL *server* (sqld, Turso) can do, as Django's features say it.

The SQL dialect is SQLite's, so this is Django's SQLite feature set with what
a server refuses switched off: no ``ATTACH`` (so no database cloning for
parallel tests), no temporary tables (a table lives on one stream, and no
stream is held between autocommit statements), no ``VACUUM``/``ANALYZE``,
no Python functions (``operations.py`` rewrites Django's as SQL). Django's
own test suite skips the tests that need them, with the reason given here.
"""

from __future__ import annotations

from django.db.backends.sqlite3.features import DatabaseFeatures as SQLiteFeatures
from django.utils.functional import cached_property

__all__ = ["DatabaseFeatures"]


class DatabaseFeatures(SQLiteFeatures):
    """Django's SQLite features, for a server."""

    can_clone_databases = False  # no ATTACH, no VACUUM INTO
    # A server database is shared by many connections, like PostgreSQL's.
    test_db_allows_multiple_connections = True

    @cached_property
    def supports_transactions(self) -> bool:  # type: ignore[override]
        return True

    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:
        skips: dict[str, set[str]] = dict(super().django_test_skips)
        skips.update(
            {
                "sqld refuses temporary tables, ATTACH and VACUUM": {
                    "backends.sqlite.tests.LastExecutedQueryTest",
                    "backends.sqlite.test_creation.TestDbSignatureTests",
                    "test_runner.tests.SQLiteInMemoryTestDbs",
                },
                "sqld refuses PRAGMA assignments other than foreign_keys, "
                "defer_foreign_keys and user_version": {
                    "backends.sqlite.tests.ThreadSharing",
                },
            }
        )
        return skips
