"""pytest plugin: async database tests in two flavours.

Installed with the package (entry point ``django_async_backend``). Mark an
``async def`` test, or request a fixture::

    @pytest.mark.async_django_db                    # rolled back at the end
    async def test_create():
        await Book.objects.acreate(title="x")

    @pytest.mark.async_django_db(transaction=True)  # real commits, tables emptied
    async def test_on_commit(): ...

    async def test_other(async_db): ...              # same as the first
    async def test_more(async_transactional_db): ... # same as the second

``databases=[...]`` in the marker limits the aliases (default: all).

The plugin runs such tests itself, in a fresh event loop per test, with one
pinned connection scope for the test (the same model as ``AsyncioTestCase``),
so ``pytest-asyncio`` is not needed; a test marked for both is an error. The
test databases are created once per session with Django's
``setup_databases`` (or by pytest-django's ``django_db_setup`` when that
plugin is active; its database blocker is lifted for these tests). Settings
come from the ``async_django_settings_module`` ini option or
``DJANGO_SETTINGS_MODULE``. ``AsyncioTestCase`` and Django ``TestCase``
classes collected by pytest get the test databases as well.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import Any

import pytest

MARKER = "async_django_db"
_FLAVOUR_FIXTURES = {"async_db": "rollback", "async_transactional_db": "transaction"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "async_django_settings_module",
        "Django settings module for django_async_backend's pytest plugin "
        "(default: $DJANGO_SETTINGS_MODULE).",
    )
    parser.addoption(
        "--async-reuse-db",
        action="store_true",
        default=False,
        help="django_async_backend: keep the test databases between runs.",
    )


def _pytest_django_active(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("django")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(transaction=False, databases=None): run this async test on "
        "async database connections, rolled back at the end (or with real "
        "commits and emptied tables when transaction=True).",
    )
    if _pytest_django_active(config):
        return  # pytest-django configures Django itself.
    module = config.getini("async_django_settings_module")
    if module:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", module)
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        import django
        from django.apps import apps

        if not apps.ready:
            django.setup()


def _flavour(item: pytest.Item) -> tuple[str, Any] | None:
    marker = item.get_closest_marker(MARKER)
    names = getattr(item, "fixturenames", ())
    for name, flavour in _FLAVOUR_FIXTURES.items():
        if name in names:
            return flavour, marker.kwargs.get("databases") if marker else None
    if marker is not None:
        transaction = marker.kwargs.get("transaction", False)
        if marker.args:
            transaction = bool(marker.args[0])
        flavour = "transaction" if transaction else "rollback"
        return flavour, marker.kwargs.get("databases")
    return None


def _needs_databases(item: pytest.Item) -> bool:
    if _flavour(item) is not None:
        return True
    cls = getattr(item, "cls", None)
    if cls is None:
        return False
    from django.test import TransactionTestCase

    from .testcases import AsyncioTransactionTestCase

    if issubclass(cls, AsyncioTransactionTestCase):
        return True
    return issubclass(cls, TransactionTestCase) and not _pytest_django_active(
        item.config
    )


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for item in items:
        if _flavour(item) is not None:
            if item.get_closest_marker("asyncio") is not None:
                raise pytest.UsageError(
                    f"{item.nodeid}: marked both for pytest-asyncio and for "
                    f"django_async_backend ({MARKER} / async_db fixtures). The "
                    f"latter runs the test itself; remove the asyncio marker."
                )
            obj = getattr(item, "obj", None)
            if not inspect.iscoroutinefunction(obj):
                raise pytest.UsageError(
                    f"{item.nodeid}: {MARKER} and the async_db fixtures are for "
                    f"`async def` tests (use Django's TestCase or pytest-django "
                    f"for sync ones)."
                )


@pytest.fixture(scope="session")
def async_django_db_setup(request: pytest.FixtureRequest) -> Iterator[None]:
    """Create the test databases once per session (Django's test runner way)."""
    if _pytest_django_active(request.config):
        request.getfixturevalue("django_db_setup")
        yield
        return
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    from ..db.handler import async_connections

    keepdb = request.config.getoption("--async-reuse-db")
    setup_test_environment(debug=False)
    aliases = set(async_connections.settings)
    try:
        old_config = setup_databases(
            verbosity=0, interactive=False, keepdb=keepdb, aliases=aliases
        )
    except BaseException:
        teardown_test_environment()  # so the error isn't masked next time
        raise
    try:
        yield
    finally:
        teardown_databases(old_config, verbosity=0, keepdb=keepdb)
        teardown_test_environment()


@pytest.fixture(autouse=True)
def _async_django_db_access(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give tests that need them the test databases (and lift pytest-django's
    blocker for them)."""
    if not _needs_databases(request.node):
        yield
        return
    request.getfixturevalue("async_django_db_setup")
    if not _pytest_django_active(request.config):
        yield
        return
    blocker = request.getfixturevalue("django_db_blocker")
    with blocker.unblock():
        yield


@pytest.fixture
def async_db() -> str:
    """Run this async test on async connections, rolled back at the end."""
    return "rollback"


@pytest.fixture
def async_transactional_db() -> str:
    """Run this async test with real commits; tables are emptied afterwards."""
    return "transaction"


def _case_class(flavour: str, databases: Any) -> type:
    from .testcases import AsyncioTestCase, AsyncioTransactionTestCase

    base = AsyncioTestCase if flavour == "rollback" else AsyncioTransactionTestCase
    attrs = {"databases": set(databases) if databases else "__all__"}
    return type("PytestAsyncDatabaseCase", (base,), attrs)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    found = _flavour(pyfuncitem)
    if found is None:
        return None
    flavour, databases = found
    testfunction = pyfuncitem.obj
    kwargs = {
        name: pyfuncitem.funcargs[name]
        for name in pyfuncitem._fixtureinfo.argnames
        if name in pyfuncitem.funcargs
    }

    # Run the test exactly as a test case method would run: same scope
    # pinning, transaction and clean-up code, one code path to trust.
    async def body(case: Any) -> None:
        await testfunction(**kwargs)

    case_class = _case_class(flavour, databases)
    case_class.test_body = body  # type: ignore[attr-defined]
    case = case_class("test_body")
    result = _Result()
    case.run(result)
    if result.failure is not None:
        raise result.failure[1].with_traceback(result.failure[2])
    if result.skipped is not None:
        pytest.skip(result.skipped)
    return True


class _Result:
    """The smallest ``unittest.TestResult`` that remembers the outcome."""

    def __init__(self) -> None:
        self.failure: Any = None
        self.skipped: str | None = None
        self.shouldStop = False
        self.failfast = False

    def startTest(self, test: Any) -> None: ...
    def stopTest(self, test: Any) -> None: ...
    def addSuccess(self, test: Any) -> None: ...

    def addError(self, test: Any, err: Any) -> None:
        if self.failure is None:
            self.failure = err

    addFailure = addError

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            self.addError(test, err)

    def addSkip(self, test: Any, reason: str) -> None:
        self.skipped = reason

    def addExpectedFailure(self, test: Any, err: Any) -> None: ...
    def addUnexpectedSuccess(self, test: Any) -> None: ...

    def addDuration(self, test: Any, elapsed: float) -> None: ...
