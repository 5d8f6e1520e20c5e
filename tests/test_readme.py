"""Every Python example in README.md runs, here, against the real server.

Each ```python block must follow a ``<!-- readme: KIND -->`` comment:

* ``settings``: executed; its DATABASES must name async ENGINEs and valid
  pool options.
* ``async``: the body of an ``async def``, run as an
  ``AsyncioTransactionTestCase`` test (real commits, tables emptied after).
* ``testcase``: a module defining test cases, run with unittest.
* ``pytest``: a test module, run by pytest (and this package's plugin) in a
  subprocess.
* ``asgi``: a URLconf module; each of its URLs is requested (GET) through
  Django's ASGI handler with the ``startproject`` middleware: 200, and no
  thread hop.

``myapp.models`` in the examples is the test app's models module.
"""

from __future__ import annotations

import re
import sys
import textwrap
import types
import unittest
from pathlib import Path

import pytest

from django_async_backend.test import AsyncioTransactionTestCase
from tests.conftest import scratch_database
from tests.handlers.conftest import request_settings  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"(?:<!-- readme: (\w+) -->\n)?```python\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str, int]]:
    found = []
    for match in BLOCK.finditer(README):
        line = README.count("\n", 0, match.start()) + 1
        found.append((match.group(1) or "", match.group(2), line))
    return found


def test_every_python_block_is_exercised():
    unannotated = [line for kind, _, line in blocks() if not kind]
    assert (
        not unannotated
    ), f"README python blocks without a readme comment: {unannotated}"
    assert {kind for kind, _, _ in blocks()} <= {
        "settings",
        "async",
        "testcase",
        "pytest",
        "asgi",
    }


def by_kind(kind: str) -> list[pytest.param]:
    return [
        pytest.param(code, id=f"line{line}")
        for found_kind, code, line in blocks()
        if found_kind == kind
    ]


@pytest.fixture(autouse=True)
def myapp(monkeypatch):
    from tests.app import models

    package = types.ModuleType("myapp")
    package.models = models  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "myapp", package)
    monkeypatch.setitem(sys.modules, "myapp.models", models)


@pytest.mark.parametrize("code", by_kind("settings"))
def test_settings_examples(code):
    from django.db import connections

    from django_async_backend.db.backends.libsql.settings import parse_settings
    from django_async_backend.db.backends.postgresql.pool import validate_pool_options
    from django_async_backend.db.task_local import _engine_is_async

    namespace: dict = {}
    exec(code, namespace)
    databases = connections.configure_settings(namespace["DATABASES"])
    for alias, entry in databases.items():
        assert _engine_is_async(entry["ENGINE"]), alias
        if entry["OPTIONS"].get("pool"):
            validate_pool_options(alias, entry)
        if entry["ENGINE"].startswith("django_async_backend.db.backends.libsql"):
            parse_settings(entry, alias)  # ImproperlyConfigured if a key is wrong
    assert "django_async_backend" in namespace["INSTALLED_APPS"]


def _async_case(code: str) -> type:
    source = "async def example():\n" + textwrap.indent(code, "    ")
    namespace: dict = {}
    exec(compile(source, "README.md", "exec"), namespace)

    class ReadmeExample(AsyncioTransactionTestCase):
        databases = {"default"}

        async def test_example(self):
            await namespace["example"]()

    return ReadmeExample


def _run(case_classes: list[type]) -> None:
    suite = unittest.TestSuite(
        unittest.defaultTestLoader.loadTestsFromTestCase(case) for case in case_classes
    )
    result = unittest.TestResult()
    suite.run(result)
    problems = result.errors + result.failures
    assert not problems, "\n".join(trace for _, trace in problems)
    assert result.testsRun


@pytest.mark.requires_postgresql
@pytest.mark.parametrize("code", by_kind("async"))
def test_async_examples(code, async_django_db_setup):
    _run([_async_case(code)])


@pytest.mark.parametrize("code", by_kind("testcase"))
def test_testcase_examples(code, async_django_db_setup):
    module = types.ModuleType("readme_testcases")
    exec(code, module.__dict__)
    cases = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, unittest.TestCase)
        and value.__module__ == "readme_testcases"
    ]
    assert cases
    _run(cases)


@pytest.mark.requires_postgresql
@pytest.mark.parametrize("code", by_kind("pytest"))
def test_pytest_examples(code, pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("PGDATABASE", scratch_database("readme"))
    pytester.makepyfile(
        conftest=(
            "import sys, types, pytest\n"
            "@pytest.hookimpl(trylast=True)  # after the plugin set Django up\n"
            "def pytest_configure(config):\n"
            "    from tests.app import models\n"
            "    package = types.ModuleType('myapp'); package.models = models\n"
            "    sys.modules['myapp'] = package; sys.modules['myapp.models'] = models\n"
        ),
        test_readme_example=code,
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "async_django_settings_module=tests.settings"
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()


@pytest.mark.async_django_db(transaction=True)
@pytest.mark.parametrize("code", by_kind("asgi"))
async def test_asgi_examples(code, request_settings):  # noqa: F811
    from django.core.handlers.asgi import ASGIHandler
    from django.test.utils import override_settings

    from tests.handlers.conftest import Browser
    from tests.hops import HopCounter

    module = types.ModuleType("readme_urls")
    exec(code, module.__dict__)
    sys.modules["readme_urls"] = module
    try:
        with override_settings(ROOT_URLCONF="readme_urls"):
            browser = Browser(ASGIHandler())
            with HopCounter() as hops:
                for pattern in module.urlpatterns:
                    response = await browser.get(f"/{pattern.pattern}")
                    assert response.status_code == 200, response.text
            assert hops.sync_to_async == []
    finally:
        del sys.modules["readme_urls"]
