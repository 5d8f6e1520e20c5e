"""Why a test of Django's suite that passes on SQLite fails on the libSQL ENGINE.

Maps a test id prefix (as ``runtests.py`` names tests: ``module.tests.Class.
test_method``; the longest matching prefix wins) to the reason. The libSQL
pass (``python -m tests_django.libsql``) lists every difference with its
reason in RESULTS-libsql.md; one with no entry here is *unexplained* and
fails the run. Each reason starts with its kind:

* ``Deliberate:`` a design decision of the ENGINE (issue 11, DESIGN.md 3b);
* ``Server:`` what sqld cannot do; such tests belong in the ENGINE's
  ``features.django_test_skips`` (``libsql-features-needed.md``), after
  which they skip and leave this table;
* ``Known gap:`` a bug, with the part that owns the fix and what it is.
  Counted apart in RESULTS-libsql.md; never a way to hide one.
"""

from __future__ import annotations

_EXTRACT_SQL = (
    "Deliberate: the test counts the word 'extract' in the SQL (Django's SQLite "
    "backend calls its Python function django_date_extract); ours computes the "
    "year in native SQL (strftime), so the count is 0. The rows found are right "
    "(the db_functions extract tests with the same lookups pass)."
)

EXPLAINED: dict[str, str] = {
    "db_functions.datetime.test_extract_trunc.DateFunctionTests."
    "test_extract_year_": _EXTRACT_SQL,
    "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests."
    "test_extract_year_": _EXTRACT_SQL,
    "backends.base.test_base.DatabaseWrapperLoggingTests.test_commit_debug_log": (
        "Deliberate: a write transaction on a server starts with BEGIN IMMEDIATE "
        "(a deferred BEGIN that reads then writes fails with SQLITE_BUSY after "
        "another commit: libsql-facts.md); the test expects Django's 'BEGIN'."
    ),
    "backends.sqlite.tests.TestTransactionMode.test_default_transaction_mode": (
        "Deliberate: the ENGINE's default transaction mode is IMMEDIATE on a "
        "server (see test_commit_debug_log); the test expects Django's DEFERRED."
    ),
    "backends.sqlite.tests.TestTransactionMode.test_invalid_transaction_mode": (
        "Deliberate: an invalid OPTIONS['transaction_mode'] raises the ENGINE's "
        "ImproperlyConfigured (settings.py), worded with the key and the fix; the "
        "test matches Django's exact sentence."
    ),
    "backends.sqlite.tests.Tests.test_check_database_version_supported": (
        "Deliberate: the message names the ENGINE ('libSQL 3.31 or later is "
        "required', display_name); the test matches 'SQLite ...'."
    ),
    "expressions.tests.BasicExpressionsTests.test_lookups_subquery": (
        "Server: sqld's regexp has no case-insensitive flag ('(?i)' is "
        "refused: \"'?' without operand\") and its lower()/upper() fold ASCII "
        "only, so __iregex on a pattern computed in SQL (here a Subquery) "
        "cannot match as Python's re.IGNORECASE does; the ENGINE raises "
        "NotSupportedError naming the lookup when the query is compiled (a "
        "pattern passed as a value is rewritten into case classes)."
    ),
}
