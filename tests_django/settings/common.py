"""What every pass shares: Django's own ``tests/test_sqlite.py``, on PostgreSQL.

The server comes from ``DATABASE_URL`` or the PG* variables, as for our own
tests (``scripts/tests-django`` sets the local defaults). ``runtests.py``
creates the test databases named in ``TEST`` (and, with ``--parallel``,
clones suffixed ``_1``, ``_2``...), so each pass has its own names under
:func:`database_prefix` and passes never collide.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from django_async_backend.utils.database_url import database_from_env


def database_prefix() -> str:
    """``dab_td_<checkout>_``: test database names of this checkout's runs.

    Two checkouts (a CI run beside a developer's run) may share one server;
    each drops what its killed passes left, so their names must differ.
    ``DAB_TD_DB_PREFIX`` overrides it.
    """
    explicit = os.environ.get("DAB_TD_DB_PREFIX")
    if explicit:
        return explicit
    checkout = str(Path(__file__).resolve().parents[2])
    return f"dab_td_{hashlib.sha1(checkout.encode()).hexdigest()[:6]}_"


def databases(engine: str, pass_name: str) -> dict[str, dict[str, Any]]:
    """``default`` and ``other`` on the configured server, with ``engine``."""

    def database(alias: str) -> dict[str, Any]:
        suffix = "" if alias == "default" else f"_{alias}"
        entry = database_from_env()
        if not entry["ENGINE"].endswith("postgresql"):
            raise RuntimeError("tests_django runs on PostgreSQL: unset DATABASE_URL")
        entry["ENGINE"] = engine
        entry["TEST"] = {"NAME": f"{database_prefix()}{pass_name}{suffix}"}
        return entry

    return {"default": database("default"), "other": database("other")}


# runtests.py keeps a TEST_RUNNER the settings name (it has no option for it).
TEST_RUNNER = "tests_django.recording.RecordingRunner"

SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False
