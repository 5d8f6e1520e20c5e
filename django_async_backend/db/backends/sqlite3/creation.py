"""Test database creation: Django's, with in-memory test databases shared.

Django's SQLite test database defaults to an in-memory database in shared
cache mode, one connection per thread. Async tests use a connection per task,
and shared-cache table locks make concurrent connections fail ("database
table is locked"), so an in-memory test database is a process-wide ``memdb``
database instead (see ``memory.py``). A file test database (``TEST["NAME"]``
set to a path) is Django's, unchanged.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.sqlite3.creation import DatabaseCreation as SQLiteCreation

from ..base.creation import TestDatabaseRecordingMixin
from .memory import is_shared_memory, release, shared_memory_name

__all__ = ["DatabaseCreation"]


class DatabaseCreation(TestDatabaseRecordingMixin, SQLiteCreation):
    """Django's SQLite test database creation."""

    @staticmethod
    def is_in_memory_db(database_name: Any) -> bool:
        return SQLiteCreation.is_in_memory_db(database_name) or is_shared_memory(
            database_name
        )

    def _get_test_db_name(self) -> str:
        name = self.connection.settings_dict["TEST"]["NAME"] or ":memory:"
        if name == ":memory:":
            return shared_memory_name(f"test_{self.connection.alias}")
        return super()._get_test_db_name()

    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        if is_shared_memory(test_database_name):
            release(test_database_name)
        super()._destroy_test_db(test_database_name, verbosity)
