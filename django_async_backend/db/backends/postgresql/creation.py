"""Test database creation: Django's, recording what it creates."""

from django.db.backends.postgresql.creation import (
    DatabaseCreation as PostgreSQLCreation,
)

from ..base.creation import TestDatabaseRecordingMixin

__all__ = ["DatabaseCreation"]


class DatabaseCreation(TestDatabaseRecordingMixin, PostgreSQLCreation):
    """Django's PostgreSQL test database creation."""
