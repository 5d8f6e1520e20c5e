"""The tests of Django's suite the ENGINE skips, each for what sqld refuses.

Every skip in ``features.django_test_skips`` is checked twice: the premise
(the server really refuses it, on a real sqld) and the declaration (the test
id is in the skips, with its reason).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.db.backends.libsql.helpers import libsql_suite, sync_wrapper
from tests.sqld import Sqld

pytestmark = libsql_suite

HASH_TESTS = [
    "db_functions.text.test_md5.MD5Tests",
    "db_functions.text.test_sha1.SHA1Tests",
    "db_functions.text.test_sha224.SHA224Tests",
    "db_functions.text.test_sha256.SHA256Tests",
    "db_functions.text.test_sha384.SHA384Tests",
    "db_functions.text.test_sha512.SHA512Tests",
]


@pytest.fixture(scope="module")
def remote(server: Sqld) -> Iterator[Any]:
    connection = sync_wrapper(server.url)
    yield connection
    connection.close()


def _reason(connection: Any, test_id: str) -> str:
    reasons = [
        reason
        for reason, tests in connection.features.django_test_skips.items()
        if test_id in tests
    ]
    assert reasons, f"{test_id} is not skipped"
    return reasons[0]


@pytest.mark.parametrize("test_id", HASH_TESTS)
def test_hash_function_tests_are_skipped(remote: Any, test_id: str) -> None:
    assert "md5/sha*" in _reason(remote, test_id)


def test_hashes_are_refused(remote: Any) -> None:
    """The premise: the server has no md5() (test_functions.py checks that
    the ENGINE raises NotSupportedError for MD5() and the SHA* functions)."""
    with remote.cursor() as cursor, pytest.raises(Exception, match="no such func"):
        cursor.execute("SELECT md5('abc')")


def test_having_without_group_by_is_refused_and_skipped(remote: Any) -> None:
    with remote.cursor() as cursor:
        cursor.execute("SELECT 1 GROUP BY 1 HAVING 1")  # with GROUP BY: fine
        with pytest.raises(Exception, match="could not be parsed"):
            cursor.execute("SELECT SUM(1) HAVING SUM(1) >= 0")
    test_id = "aggregation.tests.AggregateTestCase.test_having_with_no_group_by"
    assert "HAVING without GROUP BY" in _reason(remote, test_id)


def test_regex_backreference_test_is_skipped(remote: Any) -> None:
    """The premise and the ENGINE's error: test_operations.py."""
    test_id = "lookup.tests.LookupTests.test_regex_backreferencing"
    assert "backreferences" in _reason(remote, test_id)


def test_double_quoted_string_literals_are_refused_and_skipped(remote: Any) -> None:
    """sqlite3 reads an unknown "name" as the string 'name'; sqld refuses it."""
    with remote.cursor() as cursor:
        cursor.execute("CREATE TABLE dqs (note_ptr integer PRIMARY KEY)")
        with pytest.raises(Exception, match="no such column: id"):
            cursor.execute('SELECT "id" FROM dqs')
    test_id = "schema.tests.SchemaTests.test_autofield_to_o2o"
    assert "double-quoted string literals" in _reason(remote, test_id)
