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
from django.db.models import F, IntegerField, Prefetch

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from django_async_backend.models import Param, PreparedQueryError, prepare
from django_async_backend.test import AsyncCaptureQueriesContext
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
    with pytest.raises(
        Book.DoesNotExist, match="^Book matching query does not exist.$"
    ):
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


# -- what a placeholder can't express -------------------------------------------


def test_isnull_with_a_param_is_refused_at_prepare() -> None:
    with pytest.raises(
        PreparedQueryError,
        match=r"Book\.published__isnull=Param\('n'\).*__isnull=True.*__isnull=False",
    ):
        prepare(Book.objects.filter(published__isnull=Param("n")))


def test_in_with_one_param_needs_array_parameters() -> None:
    queryset = Book.objects.filter(id__in=Param("ids"))
    if connections["default"].vendor == "postgresql":
        assert prepare(queryset).params == {"ids"}
        return
    with pytest.raises(
        PreparedQueryError,
        match=r"Book\.id__in=Param\('ids'\): \w+ has no array parameters.*fixed "
        r"number of Params",
    ):
        prepare(queryset)


def test_slicing_by_a_param_is_refused_while_building() -> None:
    with pytest.raises(TypeError, match=r"Param\('n'\) can't be a slice bound"):
        Book.objects.all()[: Param("n")]
    with pytest.raises(TypeError, match=r"Param\('n'\) can't be a slice bound"):
        Book.objects.all()[Param("n") :]


def test_a_param_in_a_prefetch_queryset_is_refused_at_prepare() -> None:
    books = Prefetch("books", Book.objects.filter(pages__gt=Param("p")))
    with pytest.raises(PreparedQueryError, match=r"Prefetch\('books'\) has a queryset"):
        prepare(Author.objects.prefetch_related(books))


def test_prepare_takes_querysets_and_managers() -> None:
    assert prepare(Book.objects).model is Book
    with pytest.raises(
        TypeError, match="takes a QuerySet or a Manager, not RawQuerySet"
    ):
        prepare(Book.objects.raw("SELECT 1"))  # type: ignore[arg-type]


@async_db
async def test_a_queryset_with_params_runs_only_prepared() -> None:
    with pytest.raises(PreparedQueryError, match=r"Param\('pk'\) has no value here"):
        await Book.objects.filter(pk=Param("pk")).acount()


@async_db
async def test_none_is_refused_where_django_would_write_is_null() -> None:
    await async_library()
    by_date = prepare(Book.objects.filter(published=Param("d")))
    with pytest.raises(
        PreparedQueryError,
        match=r"Book\.published__exact=Param\('d'\) is None.*IS NULL.*__isnull=True",
    ):
        await by_date.acount(d=None)
    longer = prepare(Book.objects.filter(pages__gt=Param("p")))
    with pytest.raises(ValueError, match="Cannot use None as a query value"):
        await longer.acount(p=None)


@async_db
async def test_a_value_that_changes_the_shape_is_refused_at_the_call() -> None:
    library = await async_library()
    pair = prepare(Book.objects.filter(id__in=[Param("a"), Param("b")]))
    first, second = library["books"][:2]
    assert await pair.acount(a=first.pk, b=second.pk) == 2
    # __in drops None from its list: one placeholder less.
    with pytest.raises(PreparedQueryError, match="can't change the shape"):
        await pair.acount(a=first.pk, b=None)
    assert await pair.acount(a=second.pk, b=first.pk) == 2  # still prepared


@async_db
async def test_a_value_outside_the_columns_range() -> None:
    library = await async_library()
    by_pk = prepare(Book.objects.filter(pk=Param("pk")))
    # Compiled with a value Django can tell matches nothing: this call runs
    # Django's own path, the next one compiles.
    with pytest.raises(Book.DoesNotExist):
        await by_pk.aget(pk=2**70)
    book = library["books"][0]
    assert (await by_pk.aget(pk=book.pk)).title == book.title
    async with AsyncCaptureQueriesContext(async_connections["default"]) as queries:
        assert await by_pk.acount(pk=-(2**70)) == 0
    assert len(queries) == 0  # as Django: nothing can match, nothing runs
    shorter = prepare(Book.objects.filter(pages__lt=Param("p")))
    with pytest.raises(PreparedQueryError, match="always true for"):
        await shorter.acount(p=2**70)


# -- compiled once -------------------------------------------------------------


@async_db
async def test_later_calls_neither_build_nor_compile(monkeypatch) -> None:
    library = await async_library()
    from django.db.models.sql.compiler import SQLCompiler
    from django.db.models.sql.query import Query

    page = prepare(
        Book.objects.select_related("author__publisher")
        .filter(author__name=Param("name"), pages__gte=Param("p"))
        .order_by("-id")[:2]
    )
    calls: list[str] = []
    for cls, name in (
        (SQLCompiler, "as_sql"),
        (SQLCompiler, "setup_query"),
        (Query, "clone"),
    ):
        original = getattr(cls, name)

        def spy(
            *args: Any, _original: Any = original, _name: str = name, **kwargs: Any
        ) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(cls, name, spy)
    first = [b async for b in page.aiterate(name="Hergé", p=60)]
    assert calls  # the first call builds and compiles
    calls.clear()
    again = [b async for b in page.aiterate(name="Jacobs", p=0)]
    assert await page.aexists(name="Jacobs", p=0)  # its own first call
    calls.clear()
    assert await page.aexists(name="Hergé", p=0)
    assert calls == []
    assert [b.author.publisher.name for b in first] == ["Casterman"] * 2
    assert [b.title for b in again] == [b.title for b in library["books"][4:2:-1]]


# -- through Django's cursor layer, on the task's connection ----------------------


@async_db
async def test_queries_are_logged_and_wrapped_like_any_other() -> None:
    library = await async_library()
    book = library["books"][1]
    by_pk = prepare(Book.objects.filter(pk=Param("pk")))
    connection = async_connections["default"]
    seen: list[tuple[str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, list(params)))
        return execute(sql, params, many, context)

    for _ in range(2):
        async with AsyncCaptureQueriesContext(connection) as queries:
            with connection.execute_wrapper(wrapper):
                assert (await by_pk.aget(pk=str(book.pk))).pk == book.pk
        assert len(queries) == 1
        # The SQL with its values, as Django logs any query.
        assert queries[0]["sql"].startswith('SELECT "app_book"."id"')
        assert f'"app_book"."id" = {book.pk}' in queries[0]["sql"]
    # The value was prepared by the field: the string became an integer.
    assert [params for _, params in seen] == [[book.pk], [book.pk]]
    assert seen[0][0] == seen[1][0]


def test_sync_queries_are_logged_and_wrapped(sync_library: dict[str, Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    by_author = prepare(
        Book.objects.filter(author=Param("a")).values_list("pk", flat=True)
    )
    seen = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(list(params))
        return execute(sql, params, many, context)

    herge = sync_library["authors"][0]
    with (
        CaptureQueriesContext(connection) as queries,
        connection.execute_wrapper(wrapper),
    ):
        assert len(list(by_author.iterate(a=herge))) == 3
        assert by_author.count(a=herge) == 3
    assert len(queries) == 2
    assert seen == [[herge.pk], [herge.pk]]


@async_db(transaction=True)
async def test_calls_join_the_tasks_transaction() -> None:
    by_title = prepare(Author.objects.filter(name=Param("name")))
    try:
        async with async_atomic():
            await Author.objects.acreate(name="Peyo")
            assert (await by_title.aget(name="Peyo")).name == "Peyo"
            renamed = prepare(Author.objects.filter(name=Param("old")))
            assert (
                await renamed.aupdate(
                    {"name": Param("new")}, old="Peyo", new="Culliford"
                )
                == 1
            )
            assert await by_title.aexists(name="Culliford")
            raise ValueError("roll back")
    except ValueError:
        pass
    assert not await by_title.aexists(name="Culliford")
    assert not await by_title.aexists(name="Peyo")


@pytest.mark.allows_thread_hops
@async_db(transaction=True)
async def test_native_orm_off_takes_the_thread_path(no_thread_hops: Any) -> None:
    from asgiref.sync import sync_to_async
    from django.test.utils import override_settings

    await Author.objects.acreate(name="Hergé")
    by_name = prepare(Author.objects.filter(name=Param("name")))
    assert await by_name.acount(name="Hergé") == 1
    assert no_thread_hops.sync_to_async == []
    with override_settings(ASYNC_BACKEND_NATIVE_ORM=False):
        assert await by_name.acount(name="Hergé") == 1
        await sync_to_async(connections.close_all)()
    assert "_count" in no_thread_hops.sync_to_async


# -- update() and delete() --------------------------------------------------------


@async_db
async def test_update_binds_params_plain_values_and_expressions() -> None:
    library = await async_library()
    herge, jacobs, _ = library["authors"]
    by_author = prepare(Book.objects.filter(author=Param("a")))
    assert (
        await by_author.aupdate({"pages": Param("p"), "title": "x"}, a=herge, p=99) == 3
    )
    assert (
        await by_author.aupdate({"pages": Param("p"), "title": "y"}, a=jacobs, p=7) == 2
    )
    rows = [(b.author_id, b.title, b.pages) async for b in Book.objects.order_by("id")]
    assert rows == [(herge.pk, "x", 99)] * 3 + [(jacobs.pk, "y", 7)] * 2
    more = {"pages": F("pages") + Param("n", output_field=IntegerField())}
    assert await by_author.aupdate(more, a=herge, n=1) == 3
    assert await by_author.aupdate(more, a=jacobs, n=-7) == 2
    pages = [b.pages async for b in Book.objects.order_by("id")]
    assert pages == [100, 100, 100, 0, 0]
    # A model instance for a foreign key, None for a nullable column.
    moved = {"author": Param("to"), "published": Param("d")}
    assert await by_author.aupdate(moved, a=jacobs, to=herge, d=None) == 2
    assert await Book.objects.filter(author=herge).acount() == 5
    assert await Book.objects.filter(author=herge, published=None).acount() == 2
    assert await by_author.aupdate({"pages": 1}, a=jacobs) == 0


def test_sync_update_of_inherited_fields(sync_library: dict[str, Any]) -> None:
    from tests.app.models import Restaurant

    by_pizza = prepare(Restaurant.objects.filter(serves_pizza=Param("pizza")))
    # name lives in the parent table: Django runs dependent statements.
    assert by_pizza.update({"name": Param("name")}, pizza=True, name="Napoli") == 1
    assert by_pizza.update({"serves_pizza": False}, pizza=True) == 1
    names = sorted(Restaurant.objects.values_list("name", "serves_pizza"))
    assert names == [("Le Petit Vingtième", False), ("Napoli", False)]


@async_db
async def test_delete_fast_and_with_cascades_as_django() -> None:
    library = await async_library()
    from tests.app.models import Chapter

    books = library["books"]
    chapters_of = prepare(Chapter.objects.filter(book=Param("book")))
    assert await chapters_of.adelete(book=books[0]) == (2, {"app.Chapter": 2})
    assert await chapters_of.adelete(book=books[0]) == (0, {})
    by_pk = prepare(Book.objects.filter(pk=Param("pk")))
    expected = await Book.objects.filter(pk=books[2].pk).adelete()
    assert expected[1]["app.Chapter"] == 2
    got = await by_pk.adelete(pk=books[1].pk)  # 2 chapters and 2 tags as well
    assert got == (5, {"app.Book": 1, "app.Chapter": 2, "app.Book_tags": 2})
    with pytest.raises(TypeError, match="after .values"):
        await prepare(Book.objects.values("pk").filter(pk=Param("pk"))).adelete(pk=1)
