"""Test cases for async code that uses the database.

Both classes are ``unittest.IsolatedAsyncioTestCase`` subclasses, so they run
under plain ``unittest``, Django's test runner and pytest alike, with
``asyncSetUp``/``asyncTearDown``.

``IsolatedAsyncioTestCase`` runs ``asyncSetUp``, the test and
``asyncTearDown`` as three separate tasks. Connections belong to tasks, so
each test *pins* one connection scope and every task of the test adopts it:
setup, body and teardown share connections (and, in ``AsyncioTestCase``, one
transaction). Tasks the test starts itself still get their own connections
(or join an open ``async_atomic`` block), as in production.

Which one to use:

``AsyncioTestCase``
    Each test runs inside a transaction that is rolled back at its end: fast
    isolation, nothing to clean up. ``async_atomic`` blocks inside the test
    become savepoints, so ``on_commit`` callbacks never run (as with Django's
    ``TestCase``) and ``durable=True`` blocks are allowed. Tasks the test
    starts join the test's transaction, so they see its data.

``AsyncioTransactionTestCase``
    Real commits: transactions, ``on_commit``, concurrency between
    connections and ``independent_connection()`` behave exactly as in
    production. Under Django's test runner (or this package's pytest plugin)
    the tables of the test databases are emptied after each test, as
    ``TransactionTestCase`` does; a database the test runner did not create is
    never emptied (clean up yourself when running against a real database).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar
from unittest import IsolatedAsyncioTestCase

from django.core.management import call_command
from django.db import connections
from django.test import SimpleTestCase
from django.test.utils import modify_settings as _modify_settings
from django.test.utils import override_settings as _override_settings

from ..db.backends.base.creation import is_test_database
from ..db.handler import async_connections
from ..db.scope import ConnectionScope, bind_scope, current_task_or_raise
from ..db.task_local import install, is_async_alias
from ..db.transaction import AsyncAtomic
from .utils import AsyncCaptureQueriesContext

__all__ = [
    "AsyncioTestCase",
    "AsyncioTransactionTestCase",
    "modify_settings",
    "override_settings",
]


class AsyncioTransactionTestCase(IsolatedAsyncioTestCase):
    """Async tests with real commits; test tables are emptied afterwards."""

    #: Aliases the test uses: a set of names or ``"__all__"``. Django's test
    #: runner creates test databases for them. Only aliases on an async
    #: ENGINE get async connections (and, in ``AsyncioTestCase``, a
    #: transaction).
    databases: ClassVar[set[str] | frozenset[str] | str] = "__all__"
    #: As in Django's ``TransactionTestCase``: restrict flushing (and
    #: post-migrate signals) to these apps.
    available_apps: ClassVar[list[str] | None] = None
    #: Reset sequences when emptying tables.
    reset_sequences: ClassVar[bool] = False

    _rollback_each_test: ClassVar[bool] = False
    _overridden_settings: ClassVar[dict[str, Any] | None] = None
    _modified_settings: ClassVar[Any] = None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if cls._overridden_settings:
            cls.enterClassContext(_override_settings(**cls._overridden_settings))
        if cls._modified_settings:
            cls.enterClassContext(_modify_settings(cls._modified_settings))

    @classmethod
    def _aliases(cls) -> list[str]:
        aliases = (
            list(connections.settings)
            if cls.databases == "__all__"
            else sorted(cls.databases)
        )
        return [alias for alias in aliases if is_async_alias(alias)]

    # Django's message assertions work unchanged in async tests.
    assertRaisesMessage = SimpleTestCase.assertRaisesMessage
    assertWarnsMessage = SimpleTestCase.assertWarnsMessage
    _assertFooMessage = SimpleTestCase._assertFooMessage
    _assert_raises_or_warns_cm = SimpleTestCase._assert_raises_or_warns_cm

    def assertNumQueries(
        self, num: int, using: str = "default"
    ) -> _AssertNumQueriesContext:
        """``async with self.assertNumQueries(2): ...`` on the task's connection."""
        return _AssertNumQueriesContext(self, num, using)

    def settings(self, **kwargs: Any) -> override_settings:
        """A context manager that temporarily overrides settings."""
        return override_settings(**kwargs)

    def modify_settings(self, **kwargs: Any) -> modify_settings:
        """A context manager that temporarily modifies list settings."""
        return modify_settings(**kwargs)

    # -- one connection scope per test ---------------------------------------

    def _adopting(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        async def adopt(*args: Any, **kwargs: Any) -> Any:
            scope = getattr(self, "_connection_scope", None)
            if scope is not None:
                bind_scope(scope)
            return await func(*args, **kwargs)

        return adopt

    def _callAsync(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return super()._callAsync(self._adopting(func), *args, **kwargs)  # type: ignore[misc]

    def _callMaybeAsync(
        self, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        if inspect.iscoroutinefunction(func):
            func = self._adopting(func)
        return super()._callMaybeAsync(func, *args, **kwargs)  # type: ignore[misc]

    def _callSetUp(self) -> None:
        self._asyncioRunner.get_loop()  # type: ignore[attr-defined]
        install()
        # Cleanups run last-in first-out, after the test's own cleanups:
        # release the connections, then empty the tables.
        self.addCleanup(self._empty_test_databases)
        self.addCleanup(self._close_connection_scope)
        self._callAsync(self._open_connection_scope)
        super()._callSetUp()  # type: ignore[misc]

    async def _open_connection_scope(self) -> None:
        task = current_task_or_raise()
        self._connection_scope = ConnectionScope(task.get_loop(), pinned=True)
        bind_scope(self._connection_scope)
        self._test_atomics: list[AsyncAtomic] = []
        if self._rollback_each_test:
            for alias in self._aliases():
                atomic = AsyncAtomic(alias, savepoint=True, durable=False)
                atomic.atomic._from_testcase = True
                await atomic.__aenter__()
                self._test_atomics.append(atomic)

    async def _close_connection_scope(self) -> None:
        scope = getattr(self, "_connection_scope", None)
        if scope is None:
            return
        try:
            while self._test_atomics:
                atomic = self._test_atomics.pop()
                connection = scope.face(atomic.using or "default")
                if connection.in_atomic_block:
                    connection.set_rollback(True)
                await atomic.__aexit__(None, None, None)
        finally:
            try:
                await scope.aclose()
            finally:
                # Pools belong to the test's event loop: close them while it
                # still runs (a pool left to the loop's shutdown may be in
                # the middle of opening a connection when asyncio cancels
                # every task).
                await async_connections.close_pools()

    def _empty_test_databases(self) -> None:
        if self._rollback_each_test:
            return
        for alias in self._aliases():
            if not is_test_database(connections[alias].settings_dict):
                continue
            inhibit = self.available_apps is not None
            call_command(
                "flush",
                verbosity=0,
                interactive=False,
                database=alias,
                reset_sequences=self.reset_sequences,
                allow_cascade=inhibit,
                inhibit_post_migrate=inhibit,
            )


class _AssertNumQueriesContext:
    def __init__(self, test_case: Any, num: int, using: str) -> None:
        self.test_case = test_case
        self.num = num
        self.using = using

    async def __aenter__(self) -> AsyncCaptureQueriesContext:
        self.context = AsyncCaptureQueriesContext(async_connections[self.using])
        return await self.context.__aenter__()

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        await self.context.__aexit__(exc_type, exc_value, traceback)
        if exc_type is not None:
            return
        executed = len(self.context)
        queries = "\n".join(
            f"{i}. {query['sql']}"
            for i, query in enumerate(self.context.captured_queries, start=1)
        )
        self.test_case.assertEqual(
            executed,
            self.num,
            f"{executed} queries executed, {self.num} expected\n"
            f"Captured queries were:\n{queries}",
        )


class AsyncioTestCase(AsyncioTransactionTestCase):
    """Async tests, each inside a transaction rolled back at its end."""

    _rollback_each_test = True


def _save_options(decorator: Any, cls: type) -> type:
    from django.test import SimpleTestCase

    if not issubclass(cls, (SimpleTestCase, AsyncioTransactionTestCase)):
        raise ValueError(
            f"Only subclasses of Django's SimpleTestCase or of "
            f"AsyncioTransactionTestCase can be decorated with "
            f"{type(decorator).__name__}."
        )
    decorator.save_options(cls)
    return cls


class override_settings(_override_settings):
    """Django's ``override_settings``, also for the async test cases."""

    def decorate_class(self, cls: type) -> type:
        return _save_options(self, cls)


class modify_settings(_modify_settings):
    """Django's ``modify_settings``, also for the async test cases."""

    def decorate_class(self, cls: type) -> type:
        return _save_options(self, cls)
