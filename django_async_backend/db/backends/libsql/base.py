"""ENGINE ``django_async_backend.db.backends.libsql``: the mode dispatch.

Django instantiates ``DatabaseWrapper(settings_dict, alias)``. The mode comes
from the settings (``settings.mode_of``):

* **remote** (``NAME`` a server URL or hostname): ``remote.base.DatabaseWrapper``;
* **embedded replica** (``NAME`` a file and ``SYNC_URL``):
  ``replica.base.DatabaseWrapper``, imported only when used;
* **local** (``NAME`` a file or ``:memory:``): this class itself, which *is*
  the SQLite ENGINE's wrapper (``sqlite3/base.py``), the same code.

``DatabaseWrapper.__new__`` returns an instance of the mode's class. Every
mode's class mixes in :class:`LibSQLWrapperMixin`, so
``isinstance(connection, LibSQLWrapperMixin)`` tells a libSQL connection of
any mode; the remote and replica classes are not subclasses of this class (so
Python does not run ``__init__`` twice), which is why the mixin, not this
class, is the test to use.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from ..sqlite3.base import DatabaseWrapper as SQLiteEngineWrapper
from .settings import LibSQLSettings, mode_of, parse_settings

__all__ = ["DatabaseWrapper", "LibSQLWrapperMixin", "wrapper_class_for"]

MODE_MODULES = {
    "remote": "django_async_backend.db.backends.libsql.remote.base",
    "replica": "django_async_backend.db.backends.libsql.replica.base",
}


class LibSQLWrapperMixin:
    """Marks a libSQL connection (any mode) and parses its settings once."""

    display_name = "libSQL"
    settings_dict: dict[str, Any]
    alias: str

    @property
    def libsql_settings(self) -> LibSQLSettings:
        cached = self.__dict__.get("_libsql_settings")
        if cached is None or cached[0] is not self.settings_dict:
            cached = (
                self.settings_dict,
                parse_settings(self.settings_dict, self.alias),
            )
            self.__dict__["_libsql_settings"] = cached
        return cached[1]


def wrapper_class_for(settings_dict: dict[str, Any]) -> type:
    """The wrapper class of the mode ``settings_dict`` selects."""
    mode = mode_of(settings_dict)
    if mode == "local":
        return DatabaseWrapper
    return importlib.import_module(MODE_MODULES[mode]).DatabaseWrapper  # type: ignore[no-any-return]


class DatabaseWrapper(LibSQLWrapperMixin, SQLiteEngineWrapper):
    """Local mode (the SQLite ENGINE); other modes' classes come from ``__new__``."""

    def __new__(
        cls, settings_dict: dict[str, Any], alias: str = DEFAULT_DB_ALIAS, *args: Any,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        if cls is DatabaseWrapper:
            target = wrapper_class_for(settings_dict)
            if target is not cls:
                parse_settings(settings_dict, alias)  # errors early, as Django's own
                return target(settings_dict, alias, *args, **kwargs)
        return super().__new__(cls)
