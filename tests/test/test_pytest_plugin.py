"""The pytest plugin: markers and fixtures in both flavours, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import scratch_database

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.requires_postgresql

HEADER = """
import asyncio
import pytest
from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic, on_commit
from tests.app.models import Book
"""


@pytest.fixture
def inner(pytester, monkeypatch):
    """Run pytest on a generated file, in a subprocess with its own test DB."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("PGDATABASE", scratch_database("plugin"))
    monkeypatch.delenv("DATABASE_URL", raising=False)

    def run(source: str, *args: str):
        pytester.makepyfile(test_inner=HEADER + source)
        return pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            "-o",
            "async_django_settings_module=tests.settings",
            "-p",
            "tests.conftest",
            *args,
        )

    return run


def test_both_flavours_markers_and_fixtures(inner):
    result = inner(
        """
@pytest.mark.async_django_db
async def test_a_rolled_back():
    await Book.objects.acreate(title="a")
    assert await Book.objects.acount() == 1

@pytest.mark.async_django_db
async def test_b_isolated():
    assert await Book.objects.acount() == 0

async def test_c_fixture(async_db):
    await Book.objects.acreate(title="c")
    assert async_connections["default"].in_atomic_block

@pytest.mark.async_django_db(transaction=True)
async def test_d_commits():
    events = []
    async with async_atomic():
        await Book.objects.acreate(title="d")
        await on_commit(lambda: events.append("committed"))
    assert events == ["committed"]

async def test_e_emptied_afterwards(async_transactional_db):
    assert await Book.objects.acount() == 0
    assert not async_connections["default"].in_atomic_block

@pytest.mark.async_django_db(databases=["default"])
async def test_f_databases():
    assert await Book.objects.acount() == 0

@pytest.mark.async_django_db
async def test_g_skip():
    pytest.skip("skips are reported")

@pytest.mark.async_django_db
async def test_h_failure_is_reported():
    assert await Book.objects.acount() == 42
"""
    )
    result.assert_outcomes(passed=6, skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*assert 0 == 42*"])


def test_sync_tests_with_the_marker_are_a_usage_error(inner):
    result = inner(
        """
@pytest.mark.async_django_db
def test_sync():
    pass
"""
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*are for `async def` tests*"])


def test_asyncio_marker_conflict_is_a_usage_error(inner):
    result = inner(
        """
@pytest.mark.asyncio
@pytest.mark.async_django_db
async def test_both():
    pass
""",
        "-p",
        "no:asyncio",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*remove the asyncio marker*"])
