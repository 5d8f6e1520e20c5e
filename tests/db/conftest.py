"""Fixtures for tests/db: a private primary with a real streaming replica."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connections

from .backends.postgresql.cluster import PrivateCluster, find_bindir


class Replication:
    """A private primary, its streaming replica, and aliases for both."""

    def __init__(self, primary: PrivateCluster, replica: PrivateCluster) -> None:
        self.primary = primary
        self.replica = replica

    def admin(self, cluster: PrivateCluster) -> psycopg.Connection:
        return psycopg.connect(**cluster.connect_kwargs("app"))

    def pause_replay(self) -> None:
        with self.admin(self.replica) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with self.admin(self.replica) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Until the replica has replayed everything the primary wrote."""
        with self.admin(self.primary) as primary:
            target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with self.admin(self.replica) as replica:
            while time.monotonic() < deadline:
                row = replica.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
                ).fetchone()
                if row[0]:
                    return
                time.sleep(0.02)
        raise AssertionError("the replica did not catch up")


@pytest.fixture(scope="session")
def replication() -> Iterator[Replication]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "needs local PostgreSQL server binaries (initdb, pg_ctl, "
            "pg_basebackup) for a private primary and its replica"
        )
    primary = PrivateCluster(bindir)
    replica = None
    try:
        primary.start()
        with psycopg.connect(**primary.connect_kwargs()) as admin:
            admin.execute("CREATE DATABASE app")
        replica = primary.replica()
        replica.start()
        yield Replication(primary, replica)
    finally:
        if replica is not None:
            replica.destroy()
        primary.destroy()


@pytest.fixture
def replica_aliases(replication: Replication) -> Iterator[Replication]:
    """Aliases ``primary`` and ``replica`` on the private clusters' ``app``
    database, with the test app's tables (created on the primary, replicated)."""
    entries = {
        "primary": replication.primary.database_settings("app"),
        "replica": replication.replica.database_settings("app"),
    }
    configured = connections.configure_settings({"default": {}, **entries})
    for alias in entries:
        connections.settings[alias] = configured[alias]
    try:
        _create_tables()
        replication.wait_replayed()
        yield replication
    finally:
        try:
            replication.replica.start()  # a test may have stopped it
        except Exception:
            pass
        replication.resume_replay()
        for alias in entries:
            connections[alias].close()
            del connections.settings[alias]


def _create_tables() -> None:
    from tests.app.models import Author, Book, Publisher, Tag

    with psycopg.connect(**_kwargs("primary")) as admin:
        exists = admin.execute("SELECT to_regclass('app_book')").fetchone()[0]
        if exists:
            for model in (Book, Author):
                admin.execute(f"TRUNCATE {model._meta.db_table} CASCADE")
            return
    connection = connections["primary"]
    with connection.schema_editor() as editor:
        for model in (Publisher, Author, Tag, Book):
            editor.create_model(model)
    connection.close()


def _kwargs(alias: str) -> dict[str, Any]:
    settings = connections.settings[alias]
    return {
        "host": settings["HOST"],
        "port": settings["PORT"],
        "user": settings["USER"],
        "dbname": settings["NAME"],
        "autocommit": True,
    }
