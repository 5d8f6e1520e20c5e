"""Run by tests/db/test_routers.py in a process of its own: Django's test
runner with ``TEST: {"MIRROR": "default"}`` on a real replica, and our test
cases on top. Prints what each read saw, as JSON.

Arguments: the primary's and the replica's ports (private clusters)."""

from __future__ import annotations

import asyncio
import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(primary_port: str, replica_port: str) -> None:
    import django
    from django.conf import settings

    def entry(port: str) -> dict:
        return {
            "ENGINE": "django_async_backend.db.backends.postgresql",
            "NAME": "app",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": port,
        }

    settings.configure(
        DATABASES={
            "default": entry(primary_port),
            "replica": {**entry(replica_port), "TEST": {"MIRROR": "default"}},
        },
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django_async_backend",
            "tests.app",
        ],
        DATABASE_ROUTERS=["django_async_backend.db.routers.ReadYourWritesRouter"],
        ASYNC_BACKEND_READ_REPLICAS={"default": ["replica"]},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    from django_async_backend.db import async_connections
    from django_async_backend.test import (
        AsyncioTestCase,
        AsyncioTransactionTestCase,
    )
    from tests.app.models import Book

    seen: dict[str, object] = {}

    async def server(alias: str) -> list[object]:
        async with async_connections[alias].cursor() as cursor:
            await cursor.execute(
                "SELECT current_database(), inet_server_port(), pg_is_in_recovery()"
            )
            return list(await cursor.fetchone())

    class Committed(AsyncioTransactionTestCase):
        databases = {"default", "replica"}

        async def test_read_own_write(self) -> None:
            seen["replica_alias_reaches"] = await server("replica")
            await Book.objects.acreate(title="committed")

            async def read() -> list[object]:
                book = await Book.objects.afirst()
                return [book.title if book else None, book._state.db if book else None]

            seen["committed_case_child_task_reads"] = await asyncio.create_task(read())

    class RolledBack(AsyncioTestCase):
        databases = {"default", "replica"}

        async def test_read_own_write(self) -> None:
            await Book.objects.acreate(title="uncommitted")

            async def read() -> list[object]:
                book = await Book.objects.afirst()
                return [book.title if book else None, book._state.db if book else None]

            seen["rolled_back_case_child_task_reads"] = await asyncio.create_task(
                read()
            )

    old = setup_databases(verbosity=0, interactive=False)
    try:
        suite = unittest.TestSuite(
            [Committed("test_read_own_write"), RolledBack("test_read_own_write")]
        )
        result = unittest.TestResult()
        suite.run(result)
        seen["problems"] = [trace for _, trace in result.errors + result.failures]
    finally:
        teardown_databases(old, verbosity=0)
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
