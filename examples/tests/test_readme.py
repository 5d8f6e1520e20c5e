"""Every code example in examples/README.md is exercised.

Each fenced block follows a marker comment saying how:

* ``<!-- test: NAME -->``: a settings snippet, executed in a subprocess
  (Django configured with the ``DATABASES`` it defines) and checked below;
* ``<!-- verbatim: PATH -->``: an excerpt that must appear as is in PATH,
  which the HTTP tests run;
* ``<!-- command: ... -->``: a shell command that a named test runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES

README = EXAMPLES / "README.md"
ROOT = EXAMPLES.parent
BLOCK = re.compile(r"(?:<!-- (\w+): ([^>]*?) -->\n)?```(\w+)\n(.*?)```", re.DOTALL)


def blocks() -> list[tuple[str | None, str, str, str]]:
    """(marker kind, marker value, language, code) for each fenced block."""
    return [
        (m.group(1), m.group(2), m.group(3), m.group(4))
        for m in BLOCK.finditer(README.read_text())
    ]


def snippet(name: str) -> str:
    found = [
        code for kind, value, _, code in blocks() if kind == "test" and value == name
    ]
    assert len(found) == 1, name
    return found[0]


def test_every_block_says_how_it_is_exercised():
    for kind, value, language, code in blocks():
        assert kind in ("test", "verbatim", "command"), f"unmarked block:\n{code}"
        if kind == "test":
            assert language == "python"
            assert (
                f"def test_snippet_{value.replace('-', '_')}"
                in Path(__file__).read_text()
            ), f"no test for the {value!r} snippet"


def test_verbatim_excerpts_are_the_real_code():
    for kind, value, _, code in blocks():
        if kind == "verbatim":
            assert code in (ROOT / value).read_text(), f"not in {value}:\n{code}"


PROBE = """
import asyncio, json, sys

namespace = {}
exec(sys.stdin.read(), namespace)

from django.conf import settings

settings.configure(
    DATABASES=namespace["DATABASES"], INSTALLED_APPS=namespace["INSTALLED_APPS"],
    USE_TZ=True,
)
import django

django.setup()
from django_async_backend.db import async_connections


async def one(sql):
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute(sql)
        return await cursor.fetchall() if cursor.description else None


async def in_task(sql):
    return await asyncio.create_task(one(sql))


async def main():
    connection = async_connections["default"]
    report = {"engine": connection.settings_dict["ENGINE"]}
    if connection.vendor == "sqlite":
        report["journal_mode"] = (await one("PRAGMA journal_mode"))[0][0]
        report["synchronous"] = (await one("PRAGMA synchronous"))[0][0]
        await connection.ensure_connection()
        wrapper = connection.sync_wrapper
        report["transaction_mode"] = wrapper.transaction_mode
        report["timeout"] = connection.connection.lock_timeout
        report["conn_max_age"] = wrapper.settings_dict["CONN_MAX_AGE"]
        # Another task, another connection: the same database?
        await one("CREATE TABLE probe (v integer)")
        await one("INSERT INTO probe VALUES (1)")
        report["other_task_sees"] = await in_task("SELECT v FROM probe")
    print(json.dumps(report))


asyncio.run(main())
"""


def probe(code: str, base_dir: Path, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=code, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=base_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_snippet_sqlite_settings(tmp_path):
    report = probe(snippet("sqlite-settings"), tmp_path)
    assert report["engine"] == "django_async_backend.db.backends.sqlite3"
    assert report["journal_mode"] == "wal"
    assert report["synchronous"] == 1  # NORMAL, from init_command
    assert report["transaction_mode"] == "IMMEDIATE"
    assert report["timeout"] == 10
    assert report["conn_max_age"] == 60
    assert report["other_task_sees"] == [[1]]
    assert (tmp_path / "db.sqlite3").exists()


def test_snippet_memory(tmp_path):
    report = probe(snippet("memory"), tmp_path)
    assert report["journal_mode"] == "memory"
    assert report["other_task_sees"] == [[1]]  # one database for the process
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url, engine",
    [
        ("", "sqlite3"),
        ("sqlite:///library.sqlite3", "sqlite3"),
        ("sqlite://:memory:", "sqlite3"),
        ("postgresql://user:secret@db.example:5432/library", "postgresql"),
    ],
)
def test_snippet_database_url(tmp_path, url, engine):
    namespace: dict = {}
    env = {"DATABASE_URL": url} if url else {}
    saved = os.environ.pop("DATABASE_URL", None)
    os.environ.update(env)
    try:
        exec(snippet("database-url"), namespace)
    finally:
        os.environ.pop("DATABASE_URL", None)
        if saved is not None:
            os.environ["DATABASE_URL"] = saved
    settings = namespace["DATABASES"]["default"]
    assert settings["ENGINE"] == f"django_async_backend.db.backends.{engine}"
    if engine == "sqlite3":
        report = probe(snippet("database-url"), tmp_path, **env)
        assert report["other_task_sees"] == [[1]]
    else:
        assert (settings["HOST"], settings["NAME"]) == ("db.example", "library")
