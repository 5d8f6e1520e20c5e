"""Django's SQLite operations for a server that has no Python functions.

Placeholder: the native-SQL rewrites of Django's ``django_*`` SQL functions
land here.
"""

from __future__ import annotations

from django.db.backends.sqlite3.operations import (
    DatabaseOperations as SQLiteOperations,
)

__all__ = ["DatabaseOperations"]


class DatabaseOperations(SQLiteOperations):
    """Django's SQLite operations, with SQL a libSQL server can run."""
