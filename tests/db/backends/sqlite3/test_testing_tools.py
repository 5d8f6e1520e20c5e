"""The test cases and the pytest plugin on the SQLite ENGINE.

Each check runs in a subprocess with its own ``DATABASE_URL``, so it runs
whatever database the suite itself uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]

INNER = """
import asyncio
import pytest
from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic, on_commit
from tests.app.models import Book

@pytest.mark.async_django_db
async def test_a_rolled_back():
    await asyncio.gather(*(Book.objects.acreate(title=str(i)) for i in range(3)))
    assert await Book.objects.acount() == 3

@pytest.mark.async_django_db
async def test_b_isolated():
    assert await Book.objects.acount() == 0

@pytest.mark.async_django_db(transaction=True)
async def test_c_commits():
    events = []
    async with async_atomic():
        await Book.objects.acreate(title="c")
        await on_commit(lambda: events.append("committed"))
    assert events == ["committed"]
    assert async_connections["default"].vendor == "sqlite"

async def test_d_emptied_afterwards(async_transactional_db):
    assert await Book.objects.acount() == 0
"""


@pytest.fixture(params=["file", "memory"])
def database_url(request, tmp_path) -> str:
    if request.param == "memory":
        return "sqlite://:memory:"
    return f"sqlite:///{tmp_path}/tools.sqlite3"


def test_pytest_plugin(pytester, monkeypatch, database_url):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("DATABASE_URL", database_url)
    # The inner run is on database_url, not on the outer run's libSQL
    # replicas (whose primaries it would share with the outer run).
    monkeypatch.delenv("DAB_TEST_LIBSQL_REPLICA", raising=False)
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider",
        "-o", "async_django_settings_module=tests.settings",
        "-p", "tests.conftest",
    )  # fmt: skip
    result.assert_outcomes(passed=4)


def test_djangos_test_runner(database_url):
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
    )
    env.pop("DAB_TEST_LIBSQL_REPLICA", None)  # on database_url, as above
    result = subprocess.run(
        [sys.executable, "-m", "django", "test", "tests.test.sample_cases",
         "--noinput", "-v", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Ran 4 tests" in result.stderr
    assert "OK" in result.stderr
