from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sqld import Sqld, sqld_binary


@pytest.fixture(scope="module")
def server() -> Iterator[Sqld]:
    """A sqld of this module's own, fresh database."""
    if sqld_binary() is None:
        pytest.skip("sqld is not installed (scripts/sqld --install)")
    with Sqld() as sqld:
        yield sqld


@pytest.fixture
def own_server() -> Iterator[Sqld]:
    """A sqld of this test's own (restarted, killed...)."""
    if sqld_binary() is None:
        pytest.skip("sqld is not installed (scripts/sqld --install)")
    with Sqld() as sqld:
        yield sqld


@pytest.fixture(scope="module")
def auth_server() -> Iterator[Sqld]:
    if sqld_binary() is None:
        pytest.skip("sqld is not installed (scripts/sqld --install)")
    with Sqld(auth=True) as sqld:
        yield sqld
