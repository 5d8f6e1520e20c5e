"""async_atomic behaves as Django's atomic: the scenarios of Django's own
``transactions`` tests, run against async connections.

``AsyncAtomicTests`` commits for real; the subclasses run the same tests
inside an outer transaction (the ``AsyncioTestCase`` flavour) and with
autocommit turned off, as Django's suite does for ``atomic``.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, Error, IntegrityError
from django.db.transaction import TransactionManagementError

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import (
    AsyncAtomic,
    async_atomic,
    async_mark_for_rollback_on_error,
    get_rollback,
    set_rollback,
)
from django_async_backend.test import AsyncioTestCase, AsyncioTransactionTestCase
from tests.app.models import Book, Unique

from ..conftest import requires_postgresql


async def titles(using: str = "default") -> list[str]:
    return [b.title async for b in Book.objects.using(using).order_by("title")]


class AsyncAtomicTests(AsyncioTransactionTestCase):
    databases = {"default", "other"}

    async def test_decorator_syntax_commit(self):
        @async_atomic
        async def make():
            await Book.objects.acreate(title="Tintin")

        await make()
        self.assertEqual(await titles(), ["Tintin"])

    async def test_decorator_syntax_rollback(self):
        @async_atomic
        async def make():
            await Book.objects.acreate(title="Haddock")
            raise ValueError("Oops")

        with self.assertRaisesMessage(ValueError, "Oops"):
            await make()
        self.assertEqual(await titles(), [])

    async def test_alternate_decorator_syntax_commit(self):
        @async_atomic()
        async def make():
            await Book.objects.acreate(title="Tintin")

        await make()
        self.assertEqual(await titles(), ["Tintin"])

    async def test_alternate_decorator_syntax_rollback(self):
        @async_atomic()
        async def make():
            await Book.objects.acreate(title="Haddock")
            raise ValueError("Oops")

        with self.assertRaisesMessage(ValueError, "Oops"):
            await make()
        self.assertEqual(await titles(), [])

    async def test_commit(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
        self.assertEqual(await titles(), ["Tintin"])

    async def test_rollback(self):
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with async_atomic():
                await Book.objects.acreate(title="Haddock")
                raise ValueError("Oops")
        self.assertEqual(await titles(), [])

    async def test_nested_commit_commit(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
            async with async_atomic():
                await Book.objects.acreate(title="Archibald")
        self.assertEqual(await titles(), ["Archibald", "Tintin"])

    async def test_nested_commit_rollback(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
            with self.assertRaisesMessage(ValueError, "Oops"):
                async with async_atomic():
                    await Book.objects.acreate(title="Haddock")
                    raise ValueError("Oops")
        self.assertEqual(await titles(), ["Tintin"])

    async def test_nested_rollback_commit(self):
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with async_atomic():
                await Book.objects.acreate(title="Tintin")
                async with async_atomic():
                    await Book.objects.acreate(title="Haddock")
                raise ValueError("Oops")
        self.assertEqual(await titles(), [])

    async def test_nested_rollback_rollback(self):
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with async_atomic():
                await Book.objects.acreate(title="Tintin")
                with self.assertRaisesMessage(ValueError, "Oops"):
                    async with async_atomic():
                        await Book.objects.acreate(title="Haddock")
                    raise ValueError("Oops")
                raise ValueError("Oops")
        self.assertEqual(await titles(), [])

    async def test_merged_commit_commit(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
            async with async_atomic(savepoint=False):
                await Book.objects.acreate(title="Archibald")
        self.assertEqual(await titles(), ["Archibald", "Tintin"])

    async def test_merged_commit_rollback(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
            with self.assertRaisesMessage(ValueError, "Oops"):
                async with async_atomic(savepoint=False):
                    await Book.objects.acreate(title="Haddock")
                    raise ValueError("Oops")
        # Writes in the outer block are rolled back too.
        self.assertEqual(await titles(), [])

    async def test_merged_rollback_commit(self):
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with async_atomic():
                await Book.objects.acreate(title="Tintin")
                async with async_atomic(savepoint=False):
                    await Book.objects.acreate(title="Haddock")
                raise ValueError("Oops")
        self.assertEqual(await titles(), [])

    async def test_merged_rollback_rollback(self):
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with async_atomic():
                await Book.objects.acreate(title="Tintin")
                with self.assertRaisesMessage(ValueError, "Oops"):
                    async with async_atomic(savepoint=False):
                        await Book.objects.acreate(title="Haddock")
                    raise ValueError("Oops")
                raise ValueError("Oops")
        self.assertEqual(await titles(), [])

    async def test_reuse_commit_commit(self):
        atomic = async_atomic()
        async with atomic:
            await Book.objects.acreate(title="Tintin")
            async with atomic:
                await Book.objects.acreate(title="Archibald")
        self.assertEqual(await titles(), ["Archibald", "Tintin"])

    async def test_reuse_commit_rollback(self):
        atomic = async_atomic()
        async with atomic:
            await Book.objects.acreate(title="Tintin")
            with self.assertRaisesMessage(ValueError, "Oops"):
                async with atomic:
                    await Book.objects.acreate(title="Haddock")
                    raise ValueError("Oops")
        self.assertEqual(await titles(), ["Tintin"])

    async def test_reuse_rollback_commit(self):
        atomic = async_atomic()
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with atomic:
                await Book.objects.acreate(title="Tintin")
                async with atomic:
                    await Book.objects.acreate(title="Haddock")
                raise ValueError("Oops")
        self.assertEqual(await titles(), [])

    async def test_reuse_rollback_rollback(self):
        atomic = async_atomic()
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with atomic:
                await Book.objects.acreate(title="Tintin")
                with self.assertRaisesMessage(ValueError, "Oops"):
                    async with atomic:
                        await Book.objects.acreate(title="Haddock")
                    raise ValueError("Oops")
                raise ValueError("Oops")
        self.assertEqual(await titles(), [])

    async def test_force_rollback(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
            connection = async_connections["default"]
            self.assertFalse(connection.get_rollback())
            connection.set_rollback(True)
            self.assertTrue(get_rollback())
        self.assertEqual(await titles(), [])

    async def test_prevent_rollback(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
            sid = await async_connections["default"].savepoint()
            # Trigger a database error inside an inner atomic without savepoint.
            with self.assertRaises(DatabaseError):
                async with async_atomic(savepoint=False):
                    async with async_connections["default"].cursor() as cursor:
                        await cursor.execute("SELECT no_such_col FROM app_book")
            # Prevent atomic from rolling back: recover manually.
            self.assertTrue(get_rollback())
            set_rollback(False)
            await async_connections["default"].savepoint_rollback(sid)
        self.assertEqual(await titles(), ["Tintin"])

    async def test_failure_on_exit_transaction(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
            self.assertEqual(await titles(), ["Tintin"])
            # Closing the connection inside the block: the commit cannot
            # happen and the block ends without an error of its own.
            await async_connections["default"].close()
        self.assertEqual(await titles(), [])

    async def test_other_alias_is_a_separate_transaction(self):
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with async_atomic("other"):
                await Book.objects.using("other").acreate(title="Other")
                async with async_atomic():
                    await Book.objects.acreate(title="Default")
                raise ValueError("Oops")
        self.assertEqual(await titles("other"), [])
        self.assertEqual(await titles(), ["Default"])

    async def test_wrap_callable_instance(self):
        class Callable:
            async def __call__(self):
                return "called"

        # Must not raise for callables that aren't functions.
        self.assertEqual(await async_atomic(Callable())(), "called")


class AsyncAtomicInsideTransactionTests(AsyncioTestCase, AsyncAtomicTests):
    """The same scenarios inside the test case's own transaction."""

    async def test_failure_on_exit_transaction(self):
        self.skipTest("closing the connection would end the test's transaction")


class AsyncAtomicWithoutAutocommitTests(AsyncAtomicTests):
    """The same scenarios with autocommit off, as Django's suite runs them."""

    async def asyncSetUp(self):
        await async_connections["default"].set_autocommit(False)

    async def asyncTearDown(self):
        # The scenarios leave the transaction state undefined: roll back.
        connection = async_connections["default"]
        if connection.sync_wrapper.connection is not None:
            await connection.rollback()
        await connection.set_autocommit(True)

    async def test_failure_on_exit_transaction(self):
        self.skipTest("needs autocommit to observe the lost commit")


class AsyncAtomicErrorsTests(AsyncioTransactionTestCase):
    databases = {"default"}

    async def test_atomic_prevents_setting_autocommit(self):
        connection = async_connections["default"]
        autocommit = await connection.get_autocommit()
        async with async_atomic():
            with self.assertRaisesMessage(TransactionManagementError, "forbidden"):
                await connection.set_autocommit(not autocommit)
        self.assertEqual(await connection.get_autocommit(), autocommit)

    async def test_atomic_prevents_calling_transaction_methods(self):
        connection = async_connections["default"]
        async with async_atomic():
            with self.assertRaises(TransactionManagementError):
                await connection.commit()
            with self.assertRaises(TransactionManagementError):
                await connection.rollback()

    async def test_atomic_prevents_queries_in_broken_transaction(self):
        first = await Unique.objects.acreate(code="one")
        async with async_atomic():
            with self.assertRaises(IntegrityError):
                async with async_atomic(savepoint=False):
                    await Unique.objects.acreate(code="one")
            # The transaction is marked as needing rollback.
            with self.assertRaisesMessage(
                TransactionManagementError,
                "An error occurred in the current transaction. You can't "
                "execute queries until the end of the 'atomic' block.",
            ) as cm:
                await first.asave()
            self.assertIsInstance(cm.exception.__cause__, IntegrityError)
        self.assertEqual(await Unique.objects.acount(), 1)

    @requires_postgresql  # SQLite's transaction survives the error
    async def test_atomic_allows_queries_after_fixing_transaction(self):
        first = await Unique.objects.acreate(code="one")
        async with async_atomic():
            with self.assertRaises(IntegrityError):
                async with async_atomic(savepoint=False):
                    await Unique.objects.acreate(code="one")
            # Mark the transaction as no longer needing rollback.
            set_rollback(False)
            first.code = "two"
            with self.assertRaises(DatabaseError):
                # The transaction itself is still aborted on the server.
                await first.asave()

    async def test_atomic_prevents_queries_in_broken_transaction_after_close(self):
        async with async_atomic():
            await Book.objects.acreate(title="Tintin")
            await async_connections["default"].close()
            # The connection is closed and the transaction is lost: queries
            # fail (as in Django, the error class depends on the driver).
            with self.assertRaises(Error):
                await Book.objects.acreate(title="Haddock")
        self.assertEqual(await titles(), [])


class AsyncAtomicMiscTests(AsyncioTransactionTestCase):
    databases = {"default"}

    async def test_atomic_does_not_leak_savepoints_on_failure(self):
        connection = async_connections["default"]
        # Expect an error when rolling back a savepoint that doesn't exist.
        with self.assertRaisesMessage(Exception, "savepoint"):
            async with async_atomic():
                with self.assertRaisesMessage(Exception, "Oops"):
                    async with async_atomic():
                        sid = connection.savepoint_ids[-1]
                        raise Exception("Oops")
                # This is expected to fail because the savepoint no longer exists.
                await connection.savepoint_rollback(sid)

    async def test_mark_for_rollback_on_error_in_transaction(self):
        connection = async_connections["default"]
        async with async_atomic(savepoint=False):
            # Swallow the intentional error raised.
            with self.assertRaisesMessage(ValueError, "Oops"):
                async with async_mark_for_rollback_on_error():
                    self.assertFalse(connection.needs_rollback)
                    raise ValueError("Oops")
            self.assertTrue(connection.needs_rollback)
            self.assertIsInstance(connection.sync_wrapper.rollback_exc, ValueError)
            set_rollback(False)
            self.assertFalse(connection.needs_rollback)

    async def test_mark_for_rollback_on_error_in_autocommit(self):
        connection = async_connections["default"]
        with self.assertRaisesMessage(ValueError, "Oops"):
            async with async_mark_for_rollback_on_error():
                raise ValueError("Oops")
        self.assertFalse(connection.needs_rollback)
        # The connection is usable.
        await Book.objects.acreate(title="Tintin")
        self.assertEqual(await titles(), ["Tintin"])

    async def test_orm_query_after_error_and_rollback_without_autocommit(self):
        connection = async_connections["default"]
        await connection.set_autocommit(False)
        try:
            first = await Unique.objects.acreate(code="one")
            with self.assertRaises(IntegrityError):
                await Unique.objects.acreate(code="one")
            await connection.rollback()
            await Unique.objects.acreate(code="one")
            await connection.commit()
            self.assertEqual(await Unique.objects.acount(), 1)
            self.assertIsNotNone(first.pk)
        finally:
            # Queries started a new transaction: end it, as Django requires.
            await connection.rollback()
            await connection.set_autocommit(True)


class AsyncDurableTests(AsyncioTransactionTestCase):
    databases = {"default"}

    async def test_commit(self):
        async with async_atomic(durable=True):
            await Book.objects.acreate(title="1984")
        self.assertEqual(await titles(), ["1984"])

    async def test_nested_outer_durable(self):
        async with async_atomic(durable=True):
            await Book.objects.acreate(title="1984")
            async with async_atomic():
                await Book.objects.acreate(title="Animal Farm")
        self.assertEqual(await titles(), ["1984", "Animal Farm"])

    async def test_nested_both_durable(self):
        msg = "A durable atomic block cannot be nested within another atomic block."
        async with async_atomic(durable=True):
            with self.assertRaisesMessage(RuntimeError, msg):
                async with async_atomic(durable=True):
                    pass

    async def test_nested_inner_durable(self):
        msg = "A durable atomic block cannot be nested within another atomic block."
        async with async_atomic():
            with self.assertRaisesMessage(RuntimeError, msg):
                async with async_atomic(durable=True):
                    pass

    async def test_sequence_of_durables(self):
        async with async_atomic(durable=True):
            await Book.objects.acreate(title="1984")
        async with async_atomic(durable=True):
            await Book.objects.acreate(title="Animal Farm")
        self.assertEqual(await titles(), ["1984", "Animal Farm"])


class AsyncDurableInsideTestCaseTests(AsyncioTestCase, AsyncDurableTests):
    """As Django's TestCase: the test's own transaction doesn't count."""


@pytest.mark.async_django_db
async def test_async_atomic_is_an_async_atomic_instance():
    atomic = async_atomic(using="other", savepoint=False, durable=True)
    assert isinstance(atomic, AsyncAtomic)
    assert (atomic.using, atomic.savepoint, atomic.durable) == ("other", False, True)
