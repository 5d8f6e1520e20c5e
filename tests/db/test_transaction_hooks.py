"""on_commit on async connections: the scenarios of Django's own
``transaction_hooks`` tests, plus async callbacks and callbacks registered by
sync code running inside the bridge (signal receivers, ``save()``)."""

from __future__ import annotations

import asyncio

from django.db import transaction
from django.db.models.signals import post_save
from django.db.transaction import TransactionManagementError

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic, on_commit
from django_async_backend.test import AsyncioTestCase, AsyncioTransactionTestCase
from tests.app.models import Book


class ForcedError(Exception):
    pass


class OnCommitTests(AsyncioTransactionTestCase):
    databases = {"default"}

    def setUp(self):
        self.notified: list[object] = []

    async def do(self, num):
        """Create a book and register a hook that records ``num``."""
        await Book.objects.acreate(title=f"book {num}")
        await async_connections["default"].on_commit(lambda: self.notify(num))

    def notify(self, id_):
        if id_ == "error":
            raise ForcedError()
        self.notified.append(id_)

    async def assertDone(self, nums):
        self.assertNotified(nums)
        self.assertEqual(
            sorted([b.title async for b in Book.objects.all()]),
            sorted(f"book {num}" for num in nums),
        )

    def assertNotified(self, nums):
        self.assertEqual(self.notified, nums)

    async def test_executes_immediately_if_no_transaction(self):
        await self.do(1)
        await self.assertDone([1])

    async def test_robust_if_no_transaction(self):
        def robust_callback():
            raise ForcedError("robust callback")

        with self.assertLogs("django.db.backends.base", "ERROR") as cm:
            await on_commit(robust_callback, robust=True)
        await self.do(1)
        await self.assertDone([1])
        self.assertIn("robust_callback", cm.records[0].getMessage())
        self.assertIsInstance(cm.records[0].exc_info[1], ForcedError)

    async def test_robust_transaction(self):
        def robust_callback():
            raise ForcedError("robust callback")

        with self.assertLogs("django.db.backends", "ERROR") as cm:
            async with async_atomic():
                await on_commit(robust_callback, robust=True)
                await self.do(1)
        await self.assertDone([1])
        log_record = cm.records[0]
        self.assertIn("robust_callback", log_record.getMessage())
        self.assertIsInstance(log_record.exc_info[1], ForcedError)

    async def test_robust_errors_are_also_logged_where_upstream_logs_them(self):
        async def robust_callback():
            raise ForcedError("robust callback")

        with (
            self.assertLogs("django_async_backend.db.backends", "ERROR") as ours,
            self.assertLogs("django.db.backends", "ERROR") as djangos,
        ):
            async with async_atomic():
                await on_commit(robust_callback, robust=True)
                await self.do(1)
            await async_connections["default"].on_commit(robust_callback, robust=True)
        await self.assertDone([1])
        for cm in (ours, djangos):
            self.assertEqual(len(cm.records), 2)
            for record in cm.records:
                self.assertIn("robust_callback", record.getMessage())
                self.assertIsInstance(record.exc_info[1], ForcedError)

    async def test_delays_execution_until_after_transaction_commit(self):
        async with async_atomic():
            await self.do(1)
            self.assertNotified([])
        await self.assertDone([1])

    async def test_does_not_execute_if_transaction_rolled_back(self):
        try:
            async with async_atomic():
                await self.do(1)
                raise ForcedError()
        except ForcedError:
            pass
        await self.assertDone([])

    async def test_executes_only_after_final_transaction_committed(self):
        async with async_atomic():
            async with async_atomic():
                await self.do(1)
                self.assertNotified([])
            self.assertNotified([])
        await self.assertDone([1])

    async def test_discards_hooks_from_rolled_back_savepoint(self):
        async with async_atomic():
            # one successful savepoint
            async with async_atomic():
                await self.do(1)
            # one failed savepoint
            try:
                async with async_atomic():
                    await self.do(2)
                    raise ForcedError()
            except ForcedError:
                pass
            # another successful savepoint
            async with async_atomic():
                await self.do(3)
        # only hooks registered during successful savepoints execute
        await self.assertDone([1, 3])

    async def test_no_hooks_run_from_failed_transaction(self):
        """If outer transaction fails, no hooks from within it run."""
        try:
            async with async_atomic():
                async with async_atomic():
                    await self.do(1)
                raise ForcedError()
        except ForcedError:
            pass
        await self.assertDone([])

    async def test_inner_savepoint_rolled_back_with_outer(self):
        async with async_atomic():
            try:
                async with async_atomic():
                    async with async_atomic():
                        await self.do(1)
                    raise ForcedError()
            except ForcedError:
                pass
            await self.do(2)
        await self.assertDone([2])

    async def test_no_savepoints_atomic_merged_with_outer(self):
        async with async_atomic():
            async with async_atomic():
                await self.do(1)
                try:
                    async with async_atomic(savepoint=False):
                        raise ForcedError()
                except ForcedError:
                    pass
        await self.assertDone([])

    async def test_inner_savepoint_does_not_affect_outer(self):
        async with async_atomic():
            async with async_atomic():
                await self.do(1)
                try:
                    async with async_atomic():
                        raise ForcedError()
                except ForcedError:
                    pass
        await self.assertDone([1])

    async def test_runs_hooks_in_order_registered(self):
        async with async_atomic():
            await self.do(1)
            async with async_atomic():
                await self.do(2)
            await self.do(3)
        await self.assertDone([1, 2, 3])

    async def test_hooks_cleared_after_successful_commit(self):
        async with async_atomic():
            await self.do(1)
        async with async_atomic():
            await self.do(2)
        await self.assertDone([1, 2])  # not [1, 1, 2]

    async def test_hooks_cleared_after_rollback(self):
        try:
            async with async_atomic():
                await self.do(1)
                raise ForcedError()
        except ForcedError:
            pass
        async with async_atomic():
            await self.do(2)
        await self.assertDone([2])

    async def test_hooks_cleared_on_reconnect(self):
        connection = async_connections["default"]
        async with async_atomic():
            await self.do(1)
            await connection.close()
        await connection.connect()
        async with async_atomic():
            await self.do(2)
        await self.assertDone([2])

    async def test_error_in_hook_doesnt_prevent_clearing_hooks(self):
        try:
            async with async_atomic():
                await on_commit(lambda: self.notify("error"))
        except ForcedError:
            pass
        async with async_atomic():
            await self.do(1)
        await self.assertDone([1])

    async def test_db_query_in_hook(self):
        # The hook runs in the bridge after the commit, on the same
        # connection (now in autocommit): sync ORM calls work there.
        def on_commit_hook():
            self.notified.extend(b.title for b in Book.objects.all())

        async with async_atomic():
            await Book.objects.acreate(title="inside")
            await on_commit(on_commit_hook)
        self.assertNotified(["inside"])

    async def test_transaction_in_hook(self):
        def on_commit_hook():
            with transaction.atomic():
                Book.objects.create(title="from the hook")

        async with async_atomic():
            await on_commit(on_commit_hook)
        self.assertEqual([b.title async for b in Book.objects.all()], ["from the hook"])

    async def test_hook_in_hook(self):
        def on_commit(i, add_hook):
            with transaction.atomic():
                if add_hook:
                    transaction.on_commit(lambda: on_commit(i + 10, False))
                Book.objects.create(title=str(i))
                self.notified.append(i)

        async with async_atomic():
            await async_connections["default"].on_commit(lambda: on_commit(1, True))
            await async_connections["default"].on_commit(lambda: on_commit(2, True))
        self.assertNotified([1, 11, 2, 12])

    async def test_raises_exception_non_autocommit_mode(self):
        connection = async_connections["default"]
        await connection.set_autocommit(False)
        try:
            msg = "on_commit() cannot be used in manual transaction management"
            with self.assertRaisesMessage(TransactionManagementError, msg):
                await on_commit(lambda: None)
        finally:
            await connection.rollback()
            await connection.set_autocommit(True)

    async def test_raises_exception_non_callable(self):
        msg = "on_commit()'s callback must be a callable."
        with self.assertRaisesMessage(TypeError, msg):
            await on_commit(None)

    # -- beyond Django's scenarios --------------------------------------------

    async def test_async_callbacks_are_awaited_after_commit(self):
        events = []

        async def coroutine_function():
            await asyncio.sleep(0)
            events.append("coroutine function")

        async def notify(name):
            events.append(name)

        async with async_atomic():
            await on_commit(coroutine_function)
            # The upstream README's spelling: a lambda returning a coroutine.
            await on_commit(lambda: notify("lambda"))
            self.assertEqual(events, [])
        self.assertEqual(events, ["coroutine function", "lambda"])

    async def test_async_callback_runs_now_outside_a_transaction(self):
        events = []

        async def callback():
            events.append("ran")

        await on_commit(callback)
        self.assertEqual(events, ["ran"])

    async def test_robust_async_callback_is_logged(self):
        async def failing():
            raise ForcedError("async failure")

        with self.assertLogs("django.db.backends", "ERROR") as cm:
            async with async_atomic():
                await on_commit(failing, robust=True)
                await self.do(1)
        self.assertIn("failing", cm.records[0].getMessage())
        await self.assertDone([1])

    async def test_non_robust_async_callback_error_propagates(self):
        async def failing():
            raise ForcedError()

        with self.assertRaises(ForcedError):
            async with async_atomic():
                await self.do(1)
                await on_commit(failing)
        # The transaction had committed before the hook ran.
        self.assertEqual(await Book.objects.acount(), 1)

    async def test_djangos_on_commit_from_sync_code_inside_the_bridge(self):
        """A post_save receiver (sync code run by asave in the bridge) uses
        Django's transaction.on_commit; it joins the async transaction."""

        def receiver(sender, instance, created, **kwargs):
            transaction.on_commit(lambda: self.notify(instance.title))

        post_save.connect(receiver, sender=Book)
        self.addCleanup(post_save.disconnect, receiver, sender=Book)
        try:
            async with async_atomic():
                await Book.objects.acreate(title="rolled back")
                raise ForcedError()
        except ForcedError:
            pass
        async with async_atomic():
            await Book.objects.acreate(title="committed")
            self.assertNotified([])
        self.assertNotified(["committed"])


class OnCommitInsideTestCaseTests(AsyncioTestCase):
    """Inside AsyncioTestCase the test's transaction never commits: hooks
    registered in the test stay pending, as with Django's TestCase."""

    databases = {"default"}

    async def test_hooks_do_not_run(self):
        events = []
        async with async_atomic():
            await on_commit(lambda: events.append("ran"))
        self.assertEqual(events, [])
        self.assertEqual(len(async_connections["default"].run_on_commit), 1)
