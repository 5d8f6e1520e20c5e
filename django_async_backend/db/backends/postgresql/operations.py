"""Django's PostgreSQL operations, and the SQL logged for prepared statements."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql.operations import (
    DatabaseOperations as PostgreSQLOperations,
)
from psycopg import errors

from .prepared_statements import AsyncPreparingCursor, PreparingCursor

__all__ = ["DatabaseOperations"]


class DatabaseOperations(PostgreSQLOperations):
    def last_executed_query(self, cursor: Any, sql: Any, params: Any) -> Any:
        # A prepared statement is sent as its name and the parameters, so
        # psycopg keeps no query text; show the query with its values, as
        # Django does for server-side binding.
        if isinstance(
            getattr(cursor, "raw", cursor), (PreparingCursor, AsyncPreparingCursor)
        ):
            try:
                return self.compose_sql(sql, params)
            except errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)
