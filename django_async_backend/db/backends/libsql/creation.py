"""Test databases on a libSQL server.

Two strategies, chosen from the settings:

* **A namespace per test database** when the server has an admin API
  (``OPTIONS["admin_url"]``, a sqld with ``--enable-namespaces``): the test
  database is the namespace ``TEST["NAME"]`` (default ``test_<alias>``),
  created with ``POST /v1/namespaces/<name>/create`` and deleted
  afterwards. Aliases get databases of their own on one server, as on
  PostgreSQL. This is what the test suite uses (``scripts/sqld --namespaces``).
* **The database itself, emptied**, otherwise (a plain sqld, a Turso
  database): every table, view and trigger is dropped before and after the
  run (``keepdb`` keeps them). Only one alias may use such a server.

The test database's ``NAME`` is the server URL with ``?namespace=`` (see
``settings.py``), so connections to it need nothing else.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db.backends.base.creation import BaseDatabaseCreation

from ..base.creation import TestDatabaseRecordingMixin
from .settings import parse_settings

__all__ = ["DatabaseCreation"]


class ServerCreation(BaseDatabaseCreation):
    """Create and destroy test databases on a server."""

    @staticmethod
    def is_in_memory_db(database_name: Any) -> bool:
        return False

    def _settings(self) -> Any:
        return parse_settings(self.connection.settings_dict, self.connection.alias)

    def _get_test_db_name(self) -> str:
        settings = self._settings()
        name = self.connection.settings_dict["NAME"]
        if not settings.admin_url:
            return str(name)
        namespace = self.connection.settings_dict["TEST"].get("NAME") or (
            f"test_{settings.namespace or self.connection.alias}"
        )
        parts = urlsplit(name if "://" in name else f"libsql://{name}")
        query = dict(parse_qsl(parts.query))
        query["namespace"] = namespace
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _namespace_of(self, url: str) -> str | None:
        return dict(parse_qsl(urlsplit(url).query)).get("namespace")

    def _admin(self, method: str, path: str) -> int:
        settings = self._settings()
        request = urllib.request.Request(
            f"{settings.admin_url}{path}", method=method,
            data=b"{}" if method == "POST" else None,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def _create_test_db(self, verbosity: int, autoclobber: bool, keepdb: bool = False) -> str:
        test_database_name = self._get_test_db_name()
        namespace = self._namespace_of(test_database_name)
        if namespace and self._settings().admin_url:
            status = self._admin("POST", f"/v1/namespaces/{namespace}/create")
            if status >= 400 and not keepdb:
                # It exists (an earlier run): start from an empty one.
                self._admin("DELETE", f"/v1/namespaces/{namespace}")
                status = self._admin("POST", f"/v1/namespaces/{namespace}/create")
                if status >= 400:
                    raise RuntimeError(
                        f"could not create the test namespace {namespace!r} "
                        f"(HTTP {status})"
                    )
            return test_database_name
        if not keepdb:
            self._empty(test_database_name)
        return test_database_name

    def _empty(self, name: str) -> None:
        settings_dict = {**self.connection.settings_dict, "NAME": name}
        wrapper = type(self.connection)(settings_dict, self.connection.alias)
        try:
            with wrapper.cursor() as cursor:
                cursor.execute(
                    "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                    "AND name NOT LIKE '_litestream_%' AND type IN ('table', 'view', "
                    "'trigger')"
                )
                objects = cursor.fetchall()
                cursor.execute("PRAGMA foreign_keys = OFF")
                for kind, object_name in objects:
                    if kind != "table":
                        cursor.execute(f'DROP {kind.upper()} IF EXISTS "{object_name}"')
                for kind, object_name in objects:
                    if kind == "table":
                        cursor.execute(f'DROP TABLE IF EXISTS "{object_name}"')
                cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            wrapper.close()

    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        namespace = self._namespace_of(test_database_name)
        if namespace and self._settings().admin_url:
            self._admin("DELETE", f"/v1/namespaces/{namespace}")
        else:
            self._empty(test_database_name)

    def test_db_signature(self) -> tuple[Any, ...]:
        return (self.connection.settings_dict["NAME"], self._get_test_db_name())

    def sql_table_creation_suffix(self) -> str:
        return ""


class DatabaseCreation(TestDatabaseRecordingMixin, ServerCreation):
    """Test databases on a server, recorded for the framework's test cases."""
