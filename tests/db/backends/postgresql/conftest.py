"""Fixtures for PostgreSQL fault tests: a private cluster, as a database alias."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from .cluster import PrivateCluster, find_bindir


@pytest.fixture(scope="session")
def private_cluster() -> Iterator[PrivateCluster]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "needs local PostgreSQL server binaries (initdb, pg_ctl) to run a "
            "private cluster; the shared server is never stopped"
        )
    cluster = PrivateCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_alias(private_cluster: PrivateCluster) -> Iterator[Any]:
    """Register an alias ``private`` on the private cluster for one test.

    Yields a function to reconfigure it (e.g. to add a pool).
    """

    def configure(**extra: Any) -> str:
        entry = private_cluster.database_settings(**extra)
        configured = connections.configure_settings({"default": {}, "private": entry})
        connections.settings["private"] = configured["private"]
        return "private"

    configure()
    try:
        yield configure
    finally:
        del connections.settings["private"]
        if private_cluster.datadir.exists():
            try:
                private_cluster.start()  # a test may have left it stopped
            except Exception:
                pass
