"""Prepared querysets (``django_async_backend.models.prepared``).

Every case of ``prepared_cases`` runs prepared and plain on the same data, in
sync code (Django's ``TestCase``) and async code (the native path), with
several sets of values: the first call compiles, the later ones rebind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction

from django_async_backend.models import Param, PreparedQueryError, prepare
from tests.app.models import Author, Book

from .prepared_cases import CASES, Case, make_library, snapshot, value_getter

async_db = pytest.mark.async_django_db


def applicable(case: Case) -> bool:
    return not case.postgresql_only or connections["default"].vendor == "postgresql"


@pytest.fixture
def sync_library(async_django_db_setup: None) -> Iterator[dict[str, Any]]:
    """The library, in a transaction rolled back after the test (sync code,
    the thread's connection), as Django's TestCase does."""
    try:
        with transaction.atomic():
            yield make_library()
            transaction.set_rollback(True)
    finally:
        connections.close_all()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_sync_case_matches_the_plain_queryset(
    case: Case, sync_library: dict[str, Any]
) -> None:
    if not applicable(case):
        pytest.skip("array parameters are PostgreSQL's")
    prepared = prepare(case.build(Param))
    for make_values in case.values:
        values = make_values(sync_library)
        plain = case.build(value_getter(values))
        if "iterate" in case.operations:
            got = list(prepared.iterate(**values))
            assert snapshot(got) == snapshot(list(plain)), values
        if "first" in case.operations:
            assert snapshot(prepared.first(**values)) == snapshot(plain.first()), values
        if "count" in case.operations:
            assert prepared.count(**values) == plain.count(), values
        if "exists" in case.operations:
            assert prepared.exists(**values) == plain.exists(), values
        if case.unique:
            if plain.exists():
                assert snapshot(prepared.get(**values)) == snapshot(plain.get())
            else:
                with pytest.raises(plain.model.DoesNotExist):
                    prepared.get(**values)


def test_sync_get_raises_like_get(sync_library: dict[str, Any]) -> None:
    by_author = prepare(Book.objects.filter(author=Param("a")))
    herge, _, franquin = sync_library["authors"]
    with pytest.raises(
        Book.MultipleObjectsReturned,
        match=r"^get\(\) returned more than one Book -- it returned 3!$",
    ):
        by_author.get(a=herge)
    with pytest.raises(Book.DoesNotExist, match="^Book matching query does not exist.$"):
        by_author.get(a=franquin)


async def compare_async(case: Case, library: dict[str, Any]) -> None:
    prepared = prepare(case.build(Param))
    for make_values in case.values:
        values = make_values(library)
        plain = case.build(value_getter(values))
        if "iterate" in case.operations:
            got = [item async for item in prepared.aiterate(**values)]
            assert snapshot(got) == snapshot([item async for item in plain]), values
        if "first" in case.operations:
            assert snapshot(await prepared.afirst(**values)) == snapshot(
                await plain.afirst()
            ), values
        if "count" in case.operations:
            assert await prepared.acount(**values) == await plain.acount(), values
        if "exists" in case.operations:
            assert await prepared.aexists(**values) == await plain.aexists(), values
        if case.unique:
            if await plain.aexists():
                got = await prepared.aget(**values)
                assert snapshot(got) == snapshot(await plain.aget()), values
            else:
                with pytest.raises(plain.model.DoesNotExist):
                    await prepared.aget(**values)


async def async_library() -> dict[str, Any]:
    from django_async_backend.db.bridge import greenlet_spawn

    # The sync ORM in the bridge, on the test's connection and transaction.
    return await greenlet_spawn(make_library)


@async_db
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@async_db
async def test_async_case_matches_the_plain_queryset(case: Case) -> None:
    if not applicable(case):
        pytest.skip("array parameters are PostgreSQL's")
    await compare_async(case, await async_library())


@async_db
async def test_get_of_values_and_a_missing_row() -> None:
    library = await async_library()
    titles = prepare(Book.objects.values("title").filter(pk=Param("pk")))
    book = library["books"][2]
    assert await titles.aget(pk=book.pk) == {"title": book.title}
    with pytest.raises(Book.DoesNotExist):
        await titles.aget(pk=-1)
    assert await titles.afirst(pk=-1) is None


@async_db
async def test_wrong_parameters_are_type_errors() -> None:
    by_pk = prepare(Book.objects.filter(pk=Param("pk"), pages__gt=Param("p")))
    assert by_pk.params == {"pk", "p"}
    with pytest.raises(TypeError, match="no value for p"):
        await by_pk.aget(pk=1)
    with pytest.raises(TypeError, match="no Param named title"):
        await by_pk.acount(pk=1, p=2, title="x")
    with pytest.raises(TypeError, match="plain value"):
        await by_pk.acount(pk=Author.objects.values("pk")[:1], p=1)
