"""Test database creation: Django's, recording what it creates."""

from django.db.backends.postgresql.creation import (
    DatabaseCreation as PostgreSQLCreation,
)

from ..base.creation import TestDatabaseRecordingMixin

__all__ = ["DatabaseCreation"]


class DatabaseCreation(TestDatabaseRecordingMixin, PostgreSQLCreation):
    """Django's PostgreSQL test database creation."""

    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        # A connection pooler in front of the server (PgBouncer) keeps idle
        # server connections to the test database after the tests' own are
        # closed; DROP DATABASE would fail with "being accessed by other
        # users". PostgreSQL 13+ can end them itself.
        if self.connection.pg_version < 130000:
            return super()._destroy_test_db(test_database_name, verbosity)
        name = self.connection.ops.quote_name(test_database_name)
        with self._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
