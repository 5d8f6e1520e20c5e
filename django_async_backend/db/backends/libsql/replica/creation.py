"""Test databases of an embedded replica.

The data lives on the primary; the test database is the primary's database
(a fresh sqld or namespace per run, as in remote mode) seen through a fresh
local replica file: ``TEST["NAME"]`` if set, else ``NAME`` with ``test_``
before the file name. The file (and ``libsql``'s metadata files beside it)
is removed before and after the run, so each run starts with a full sync.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3.creation import DatabaseCreation as SQLiteCreation

from ...base.creation import TestDatabaseRecordingMixin

__all__ = ["DatabaseCreation", "ReplicaFileCreation", "replica_files"]

_SUFFIXES = ("", "-wal", "-shm", "-info", "-client_wal_index")


def replica_files(path: str) -> list[Path]:
    """The local files ``libsql`` keeps for the replica at ``path``."""
    return [Path(f"{path}{suffix}") for suffix in _SUFFIXES]


class ReplicaFileCreation(SQLiteCreation):
    """Django's SQLite test database creation, for a replica file."""

    def _get_test_db_name(self) -> str:
        name = self.connection.settings_dict["TEST"]["NAME"]
        if name:
            return str(name)
        path = Path(os.fspath(self.connection.settings_dict["NAME"]))
        return str(path.with_name(f"test_{path.name}"))

    def _create_test_db(
        self, verbosity: int, autoclobber: bool, keepdb: bool = False
    ) -> Any:
        name = self._get_test_db_name()
        if not keepdb:
            self._remove(name)
        return name

    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        self._remove(test_database_name)

    def _remove(self, name: str) -> None:
        from .driver import forget_file

        forget_file(name)
        for path in replica_files(name):
            path.unlink(missing_ok=True)


class DatabaseCreation(TestDatabaseRecordingMixin, ReplicaFileCreation):
    """The test databases, recorded for the test cases' flush."""
