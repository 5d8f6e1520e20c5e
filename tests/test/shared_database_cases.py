"""Run by tests/test/test_testcases.py under Django's test runner with
``other`` sharing ``default``'s database (see settings_shared_database.py).

Prints which databases were flushed after the tests (the flush command sends
``post_migrate`` once per database it empties) and which sync connections
were left open.
"""

from __future__ import annotations

from django.db import connections
from django.db.models.signals import post_migrate

from django_async_backend.test import AsyncioTransactionTestCase
from tests.app.models import Book

flushed: list[str] = []


def record_flush(sender, using, **kwargs):
    if sender.label == "app":
        flushed.append(using)


def setUpModule():
    post_migrate.connect(record_flush)


def tearDownModule():
    post_migrate.disconnect(record_flush)
    left_open = [alias for alias in connections if connections[alias].connection]
    print(f"FLUSHED {sorted(flushed)} OPEN {left_open}", flush=True)


class Empty(AsyncioTransactionTestCase):
    async def test_nothing(self):
        pass


class Writes(AsyncioTransactionTestCase):
    async def test_commits_through_both_aliases(self):
        await Book.objects.acreate(title="default")
        await Book.objects.using("other").acreate(title="other")
        self.assertEqual(await Book.objects.acount(), 2)


class ZAfterWrites(AsyncioTransactionTestCase):
    """Runs after Writes (the loader sorts classes by name)."""

    async def test_the_shared_database_was_emptied(self):
        self.assertEqual(await Book.objects.acount(), 0)
