"""The upstream model API on every model, and async_objects' conveniences."""

from __future__ import annotations

import pickle

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import SynchronousOnlyOperation
from django.db.models import Prefetch

from django_async_backend.db import async_connections
from django_async_backend.db.models.manager import AsyncManager
from django_async_backend.test import AsyncCaptureQueriesContext
from tests.app.models import (
    Author,
    Book,
    OwnAsyncApi,
    Pet,
    Tag,
    UpstreamManagerBook,
    UpstreamStyleBook,
)

db = pytest.mark.async_django_db


async def three_books() -> list[Book]:
    return [await Book.objects.acreate(title=f"Tome {n}") for n in (1, 2, 3)]


def queries() -> AsyncCaptureQueriesContext:
    return AsyncCaptureQueriesContext(async_connections["default"])


# -- every model ------------------------------------------------------------------


@db
async def test_every_model_has_the_upstream_api():
    # Django's models, third-party style, and an auto-created through model.
    user = await User.async_objects.acreate(username="ada")
    await user.async_refresh_from_db()
    user.first_name = "Ada"
    await user.async_save(update_fields=["first_name"])
    assert (await User.async_objects.aget(pk=user.pk)).first_name == "Ada"

    content_type = await ContentType.async_objects.aget(app_label="app", model="book")
    assert content_type.model_class() is Book

    book = await Book.async_objects.acreate(title="Tintin")
    tag = await Tag.async_objects.acreate(name="bd")
    await book.tags.aadd(tag)
    Through = Book.tags.through
    link = await Through.async_objects.aget(book=book)
    assert await link.async_delete() == (1, {"app.Book_tags": 1})
    assert await Through.async_objects.acount() == 0
    assert await user.async_delete() == (1, {"auth.User": 1})


@db
async def test_async_objects_is_the_default_manager_with_its_methods():
    alice = await Pet.async_objects.acreate(name="Alice")
    await Pet.objects.acreate(name="Bob")
    # PetQuerySet's own method survives.
    assert [p async for p in Pet.async_objects.named("Alice")] == [alice]
    assert Pet.async_objects.model is Pet
    assert Pet.async_objects.using("other").db == "other"
    with pytest.raises(AttributeError, match="isn't accessible via Pet instances"):
        _ = alice.async_objects


@db
async def test_what_a_model_defines_itself_is_kept():
    declared = OwnAsyncApi._meta.managers_map["async_objects"]
    assert OwnAsyncApi.async_objects is declared
    thing = OwnAsyncApi(name="x")
    await thing.async_save()
    await thing.async_refresh_from_db()
    assert thing.name == "saved by its own async_save: x"
    # A declared AsyncManager (upstream's "Managers" docs) is that manager.
    assert isinstance(UpstreamManagerBook.async_objects, AsyncManager)
    assert UpstreamManagerBook.async_objects is UpstreamManagerBook._default_manager


@db
async def test_the_mixin_gives_the_same_api():
    book = await UpstreamStyleBook.async_objects.acreate(name="Django")
    assert await book.async_delete() == (1, {"app.UpstreamStyleBook": 1})


# -- conveniences in async code -----------------------------------------------


@db
async def test_an_item_is_awaitable():
    books = await three_books()
    qs = Book.async_objects.order_by("id")
    async with queries() as ctx:
        assert await qs[1] == books[1]
        assert await qs[0] == books[0]
    assert len(ctx) == 2 and qs._result_cache is None
    with pytest.raises(IndexError):
        await qs[5]
    with pytest.raises(ValueError, match="Negative indexing"):
        qs[-1]
    with pytest.raises(TypeError, match="integers or slices"):
        qs["a"]
    # On a fetched queryset, from its results.
    fetched = [b async for b in qs]
    async with queries() as ctx:
        assert await qs[2] == books[2]
    assert len(ctx) == 0 and fetched == books


@db
async def test_slices_iterate_asynchronously():
    books = await three_books()
    qs = Book.async_objects.order_by("id")
    async with queries() as ctx:
        assert [b async for b in qs[1:3]] == books[1:3]
        assert [b async for b in qs[::2]] == books[::2]
    assert len(ctx) == 2
    [b async for b in qs]
    async with queries() as ctx:
        part = qs[1:]
        assert [b async for b in part] == books[1:]
        assert part == books[1:]  # still the list Django returns
    assert len(ctx) == 0


@db
async def test_repr_shows_the_sql_without_querying():
    await three_books()
    qs = Book.async_objects.filter(title="Tome 1")
    async with queries() as ctx:
        text = repr(qs)
    assert len(ctx) == 0
    assert text.startswith("<QuerySet [SELECT ") and "Tome 1" in text
    assert repr(Book.async_objects.none()) == "<QuerySet []>"
    [b async for b in qs]
    pk = qs._result_cache[0].pk
    assert repr(qs) == f"<QuerySet [<Book: Book object ({pk})>]>"


@db
async def test_sync_use_raises_type_error_saying_what_to_use():
    qs = Book.async_objects.all()
    with pytest.raises(TypeError, match=r"`async for obj in qs`"):
        list(qs)
    with pytest.raises(TypeError, match=r"`await qs.acontains\(obj\)`"):
        _ = Book() in qs
    with pytest.raises(TypeError, match=r"`await qs.acount\(\)`"):
        len(qs)
    with pytest.raises(TypeError, match=r"`await qs.aexists\(\)`"):
        bool(qs)
    # A fetched queryset holds its rows: nothing to query.
    await three_books()
    [b async for b in qs]
    assert len(qs) == 3 and bool(qs) and len(list(qs)) == 3
    assert qs._result_cache[0] in qs and Book() not in qs


@db
async def test_model_objects_stays_djangos():
    await three_books()
    qs = Book.objects.order_by("id")
    for use in (repr, list, len, bool, lambda q: q[0]):
        with pytest.raises(SynchronousOnlyOperation):
            use(qs)


@db
async def test_querysets_of_both_managers_combine():
    books = await three_books()
    first = Book.objects.filter(title="Tome 1")
    last = Book.async_objects.filter(title="Tome 3")
    assert [b async for b in (first | last).order_by("id")] == [books[0], books[2]]
    assert [b async for b in (last | first).order_by("id")] == [books[0], books[2]]
    assert await Book.objects.filter(pk__in=last.values("pk")).aget() == books[2]
    union = first.order_by().union(last.order_by()).order_by("id")
    assert [b async for b in union] == [books[0], books[2]]


@db
async def test_djangos_a_methods_work_on_them():
    herge = await Author.objects.acreate(name="Hergé")
    books = await three_books()
    await Book.objects.aupdate(author=herge)
    qs = Book.async_objects.order_by("id")
    assert await qs.afirst() == books[0]
    assert await qs.alast() == books[2]
    assert await qs.aget(title="Tome 2") == books[1]
    assert await qs.acontains(books[1])
    assert await qs.aexists() and await qs.acount() == 3
    assert await qs.ain_bulk([books[0].pk]) == {books[0].pk: books[0]}
    author = await Author.objects.prefetch_related(
        Prefetch("books", queryset=Book.async_objects.order_by("-id"))
    ).aget()
    assert list(author.books.all()) == books[::-1]
    assert [b async for b in qs.select_related("author")][0].author == herge


# -- sync code ----------------------------------------------------------------------


def test_in_sync_code_they_are_djangos_querysets(async_django_db_setup):
    try:
        books = [Book.objects.create(title=f"Tome {n}") for n in (1, 2)]
        qs = Book.async_objects.order_by("id")
        assert qs[0] == books[0] and list(qs[::2]) == books[:1]
        assert len(qs) == 2 and bool(qs) and list(qs) == books
        assert repr(qs).startswith("<QuerySet [<Book:")
        restored = pickle.loads(pickle.dumps(qs))
        assert type(restored) is type(qs) and list(restored) == books
    finally:
        Book.objects.all().delete()
