"""Test cases run by tests/test/test_testcases.py under plain unittest and
Django's test runner (not collected by pytest: the name has no test_ prefix)."""

from __future__ import annotations

import asyncio

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic, on_commit
from django_async_backend.test import AsyncioTestCase, AsyncioTransactionTestCase
from tests.app.models import Book


class RolledBack(AsyncioTestCase):
    databases = {"default"}

    async def asyncSetUp(self):
        self.setup_connection = async_connections["default"]
        # Under plain unittest the database may hold committed rows already.
        self.before = await Book.objects.acount()
        await Book.objects.acreate(title="from setUp")

    async def test_setup_body_and_teardown_share_one_transaction(self):
        self.assertIs(async_connections["default"], self.setup_connection)
        self.assertTrue(async_connections["default"].in_atomic_block)
        self.assertEqual(await Book.objects.acount(), self.before + 1)

    async def test_rows_from_other_tests_are_gone(self):
        self.assertEqual(await Book.objects.acount(), self.before + 1)

    async def test_tasks_started_by_the_test_see_its_data(self):
        counts = await asyncio.gather(*(Book.objects.acount() for _ in range(3)))
        self.assertEqual(counts, [self.before + 1] * 3)

    async def asyncTearDown(self):
        self.assertIs(async_connections["default"], self.setup_connection)
        self.assertEqual(await Book.objects.acount(), self.before + 1)


class Committed(AsyncioTransactionTestCase):
    databases = {"default"}

    async def test_commits_for_real(self):
        events = []
        async with async_atomic():
            await Book.objects.acreate(title="committed")
            await on_commit(lambda: events.append("on_commit ran"))
        self.assertEqual(events, ["on_commit ran"])
        async with async_connections.independent_connection():
            self.assertTrue(await Book.objects.filter(title="committed").aexists())
