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
    def supports_transactions(self) -> bool:
        return True

    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:
        skips: dict[str, set[str]] = dict(super().django_test_skips)
        skips.update(
            {
                "test databases on a libSQL server are namespaces (or the "
                "database itself, emptied), not files": {
                    "backends.sqlite.test_creation.TestDbSignatureTests",
                    "test_runner.tests.SQLiteInMemoryTestDbs",
                },
                # operations.py raises NotSupportedError naming the function
                # when such a query is compiled, rather than failing on the
                # server with "no such function".
                "sqld has no md5/sha* functions (the ENGINE raises "
                "NotSupportedError)": {
                    "db_functions.text.test_md5.MD5Tests",
                    "db_functions.text.test_sha1.SHA1Tests",
                    "db_functions.text.test_sha224.SHA224Tests",
                    "db_functions.text.test_sha256.SHA256Tests",
                    "db_functions.text.test_sha384.SHA384Tests",
                    "db_functions.text.test_sha512.SHA512Tests",
                },
                # sqld parses every statement itself before SQLite does; its
                # parser wants a GROUP BY before HAVING (SQLite 3.39+ does not):
                # 'near HAVING, "None": syntax error'.
                "sqld's parser refuses HAVING without GROUP BY": {
                    "aggregation.tests.AggregateTestCase."
                    "test_having_with_no_group_by",
                },
                # compiler.py raises NotSupportedError for such a pattern.
                "sqld's regexp (SQLite's ext/misc/regexp.c) has no "
                "backreferences (the ENGINE raises NotSupportedError)": {
                    "lookup.tests.LookupTests.test_regex_backreferencing",
                },
                # The test renames the column "id" but leaves the model's id
                # field, so the table remake selects "id" from a table without
                # it; SQLite takes the unknown double-quoted name for the
                # string 'id', sqld's SQLite is built without that misfeature.
                "sqld refuses double-quoted string literals (SQLite's DQS "
                "misfeature)": {
                    "schema.tests.SchemaTests.test_autofield_to_o2o",
                },
            }
        )
        return skips
