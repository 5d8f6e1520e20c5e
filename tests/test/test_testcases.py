"""AsyncioTestCase and AsyncioTransactionTestCase: isolation, real commits,
emptying only databases the test runner created; under unittest and Django's
test runner."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest
from pathlib import Path

import psycopg
import pytest
from django.db import connections

from django_async_backend.db.backends.base import creation
from tests.app.models import Book
from tests.conftest import admin_connection, scratch_database

from . import sample_cases

ROOT = Path(__file__).resolve().parents[2]


def run_case(case_class) -> unittest.TestResult:
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case_class)
    result = unittest.TestResult()
    suite.run(result)
    return result


def assert_ok(result: unittest.TestResult) -> None:
    problems = result.errors + result.failures
    assert not problems, "\n".join(trace for _, trace in problems)


def test_rolled_back_flavour(async_django_db_setup):
    result = run_case(sample_cases.RolledBack)
    assert_ok(result)
    assert result.testsRun == 3
    assert Book.objects.count() == 0


def test_committed_flavour_empties_the_test_database(async_django_db_setup):
    assert_ok(run_case(sample_cases.Committed))
    assert Book.objects.count() == 0  # flushed after the test


def test_committed_flavour_never_empties_other_databases(
    async_django_db_setup, monkeypatch
):
    # As if the test runner hadn't created this database.
    monkeypatch.setattr(creation, "_test_databases", set())
    try:
        assert_ok(run_case(sample_cases.Committed))
        assert Book.objects.count() == 1  # left alone
    finally:
        Book.objects.all().delete()
    connections["default"].close()


def _subprocess_env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PGDATABASE=database,
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.mark.requires_postgresql
def test_under_djangos_test_runner():
    env = _subprocess_env(scratch_database("runner"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "test",
            "tests.test.sample_cases",
            "--noinput",
            "-v",
            "2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 4 tests" in result.stderr


@pytest.mark.requires_postgresql
def test_under_plain_unittest():
    """No test runner: the configured database is used as is. The rolled-back
    flavour leaves it unchanged; the committed one doesn't empty it."""
    database = scratch_database("plain_unittest")
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        env = _subprocess_env(database)
        migrate = subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stderr
        code = (
            "import django, unittest, sys; django.setup(); "
            "r = unittest.main(module='tests.test.sample_cases', exit=False); "
            "sys.exit(not r.result.wasSuccessful())"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        with (
            admin_connection() as admin,
            psycopg.connect(
                **{**admin.info.get_parameters(), "dbname": database}
            ) as conn,
        ):
            titles = conn.execute("SELECT title FROM app_book").fetchall()
        assert titles == [("committed",)]
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _test_database_names(database: str) -> list[str]:
    with admin_connection() as admin:
        rows = admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            [f"test_{database}%"],
        ).fetchall()
    return [name for (name,) in rows]


@pytest.mark.parametrize("layout", ["shared", "mirror"])
def test_aliases_sharing_a_database_under_djangos_test_runner(layout, tmp_path):
    """``other`` on ``default``'s database (upstream's layout) or a TEST
    MIRROR of it: each database is flushed once, mirrors never, the
    connections the flush opened are closed, so the runner destroys the test
    database and exits 0."""
    database = scratch_database(f"shared_{layout}")
    env = _subprocess_env(database)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.test.settings_shared_database",
        ASYNC_TEST_LAYOUT=layout,
    )
    postgresql = connections.settings["default"]["ENGINE"].endswith("postgresql")
    if not postgresql:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / database}.sqlite3"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "django", "test",
             "tests.test.shared_database_cases", "--noinput", "-v", "2"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "Ran 3 tests" in result.stderr, output
        # Three tests, one database: three flushes of "default", none of
        # "other", whose sync connection is not left open. (The runner keeps
        # "default"'s own connection, which it closes to drop the database.)
        assert "FLUSHED ['default', 'default', 'default'] OPEN" in result.stdout
        assert "OPEN ['default']" in result.stdout or "OPEN []" in result.stdout
        if postgresql:
            assert _test_database_names(database) == []
        else:
            assert list(tmp_path.iterdir()) == []
    finally:
        if postgresql:
            with admin_connection() as admin:
                for name in _test_database_names(database):
                    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
