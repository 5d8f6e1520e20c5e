"""Remember which databases Django's test runner created.

``AsyncioTransactionTestCase`` empties its tables after each test, as
Django's ``TransactionTestCase`` does. It must never do that to a database
the test runner did not create (plain ``unittest`` against a real database,
a misconfigured settings module). The ENGINE's creation class records the
names of the test databases it creates or clones, in this process.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TestDatabaseRecordingMixin", "is_test_database"]

_test_databases: set[str] = set()


def is_test_database(settings_dict: dict[str, Any]) -> bool:
    """Whether ``settings_dict`` names a database the test runner created."""
    return settings_dict.get("NAME") in _test_databases


class TestDatabaseRecordingMixin:
    """Mix into an ENGINE's ``DatabaseCreation``."""

    connection: Any

    # Django's create_test_db() calls this to create (or keep) the database
    # and returns its name. Hooking here rather than create_test_db() keeps
    # this module out of the stack Django's deprecation warnings point at.
    def _create_test_db(self, *args: Any, **kwargs: Any) -> str:
        name: str = super()._create_test_db(*args, **kwargs)  # type: ignore[misc]
        _test_databases.add(name)
        return name

    def setup_worker_connection(self, _worker_id: Any) -> None:
        super().setup_worker_connection(_worker_id)  # type: ignore[misc]
        _test_databases.add(self.connection.settings_dict["NAME"])

    def destroy_test_db(self, *args: Any, **kwargs: Any) -> None:
        name = self.connection.settings_dict["NAME"]
        super().destroy_test_db(*args, **kwargs)  # type: ignore[misc]
        _test_databases.discard(name)
