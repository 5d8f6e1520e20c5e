"""What the upstream django-async-backend documents, run against our ENGINE.

Written from upstream's public README and its docs pages (setup, connections,
ORM, transactions, concurrency, testing): every name they document imports,
and every example runs (with this suite's models: ``Book`` is a model with a
``name``, as in upstream's examples). Where we differ on purpose (tasks
inside a transaction join it, sync ``on_delete`` handlers are accepted, more
of the ORM is supported), the test says so and checks what we do instead.
"""

from __future__ import annotations

import asyncio
import importlib
import unittest
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import signals
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import Count, Exists, OuterRef, ProtectedError, Q
from django.db.models.functions import Length
from django.db.models.signals import post_delete, pre_delete
from django.db.utils import load_backend
from django.test.utils import override_settings

from django_async_backend import conf
from django_async_backend.db import (
    async_connections,
    async_new_connection,
    close_old_async_connections,
)
from django_async_backend.db.backends.utils import AsyncCursorWrapper
from django_async_backend.db.models.base import AsyncModelMixin
from django_async_backend.db.models.manager import AsyncManager
from django_async_backend.db.transaction import async_atomic
from django_async_backend.test import AsyncioTestCase, AsyncioTransactionTestCase
from django_async_backend.utils.contenttypes import aget_for_model
from tests.app.models import (
    Book as DatedBook,
)
from tests.app.models import (
    Note,
    OnDelete,
    Place,
    Recipe,
    Restaurant,
    Step,
    Target,
    UpstreamManagerBook,
)
from tests.app.models import (
    UpstreamStyleBook as Book,
)
from tests.conftest import requires_concurrent_writers, requires_postgresql

db = pytest.mark.async_django_db

# Every import path the upstream README and docs show.
DOCUMENTED_NAMES = [
    ("django_async_backend.db", "async_connections"),
    ("django_async_backend.db", "async_new_connection"),
    ("django_async_backend.db", "close_old_async_connections"),
    ("django_async_backend.db.transaction", "async_atomic"),
    ("django_async_backend.db.models.base", "AsyncModelMixin"),
    ("django_async_backend.db.models.manager", "AsyncManager"),
    ("django_async_backend.utils.contenttypes", "aget_for_model"),
    ("django_async_backend.test", "AsyncioTestCase"),
    ("django_async_backend.test", "AsyncioTransactionTestCase"),
    ("django_async_backend.db.backends.utils", "AsyncCursorWrapper"),
]


@pytest.mark.parametrize(("module", "name"), DOCUMENTED_NAMES)
def test_every_documented_name_imports(module, name):
    assert getattr(importlib.import_module(module), name) is not None


def test_the_documented_engine_and_app():
    engine = load_backend("django_async_backend.db.backends.postgresql")
    assert engine.DatabaseWrapper.vendor == "postgresql"
    app = importlib.import_module("django_async_backend.apps")
    assert app.DjangoAsyncBackendConfig.name == "django_async_backend"


def test_the_documented_settings_are_accepted():
    with override_settings(
        ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS=True,
        ASYNC_BACKEND_DISABLE_POOL_WARNING=True,
    ):
        conf.validate()
        assert not conf.request_signals_enabled()


async def notify(book_id: int) -> None:
    notified.append(book_id)


notified: list[int] = []


# -- README: quick start, raw cursor -------------------------------------------


@db(transaction=True)
async def test_readme_quick_start():
    notified.clear()
    connection = async_connections["default"]

    async with async_atomic():
        book = await Book.async_objects.acreate(name="Django")

        # async callbacks are supported; runs only if the transaction commits
        await connection.on_commit(lambda: notify(book.pk))

        book.name = "Django Async"
        await book.async_save(update_fields=["name"])

        async with async_atomic():  # savepoint
            await Book.async_objects.filter(name="draft").adelete()

    assert notified == [book.pk]
    assert await Book.async_objects.acount() == 1
    rows = [(row.pk, row.name) async for row in Book.async_objects.order_by("name")]
    assert rows == [(book.pk, "Django Async")]


@db
async def test_readme_raw_cursor():
    await Book.async_objects.abulk_create([Book(name="b"), Book(name="a")])
    connection = async_connections["default"]
    table = Book._meta.db_table
    async with await connection.cursor() as cursor:
        await cursor.execute(f"SELECT id, name FROM {table} ORDER BY name")
        assert cursor.rowcount in (2, -1)  # SQLite counts rows for SELECT as -1
        assert [row[1] async for row in cursor] == ["a", "b"]


@db
async def test_readme_tasks_each_get_a_connection_outside_a_transaction():
    """Upstream: using the task's connection from another task raises
    RuntimeError. Here each task gets its own connection."""

    async def writer():
        await Book.async_objects.acreate(name="fanout")

    await asyncio.create_task(writer())
    counts = await asyncio.gather(*(Book.async_objects.acount() for _ in range(3)))
    assert counts == [1, 1, 1]


@db(transaction=True)
async def test_readme_fan_out_inside_async_atomic_joins_the_transaction():
    """Upstream: rejected. Here the tasks join the block's transaction."""
    with pytest.raises(RuntimeError, match="roll back"):
        async with async_atomic():
            await asyncio.gather(
                *(Book.async_objects.acreate(name=f"i{n}") for n in range(3))
            )
            assert await Book.async_objects.acount() == 3
            raise RuntimeError("roll back all three")
    assert await Book.async_objects.acount() == 0


# -- README / docs: the supported-methods tables --------------------------------


async def three_books() -> list[Book]:
    return [await Book.async_objects.acreate(name=name) for name in "abc"]


@db
async def test_supported_queryset_methods():
    a, b, c = await three_books()
    objects = Book.async_objects
    assert await objects.aget(name="a") == a
    assert await objects.acount() == 3
    assert [x async for x in objects.none()] == []
    created = await objects.abulk_create([Book(name="d"), Book(name="e")])
    for book in created:
        book.name = book.name.upper()
    await objects.abulk_update(created, ["name"])
    assert await objects.filter(name__in=["D", "E"]).acount() == 2
    assert (await objects.aget_or_create(name="a"))[1] is False
    updated, made = await objects.aupdate_or_create(name="f", defaults={"name": "f"})
    assert made and updated.name == "f"
    assert await objects.aearliest("id") == a
    assert await objects.alatest("id") == updated
    assert await objects.order_by("id").afirst() == a
    assert await objects.order_by("id").alast() == updated
    assert await objects.ain_bulk([a.pk, b.pk]) == {a.pk: a, b.pk: b}
    assert await objects.filter(name="f").adelete() == (1, {"app.UpstreamStyleBook": 1})
    assert await objects.filter(name="D").aupdate(name="d") == 1
    assert await objects.filter(name="d").aexists()
    assert await objects.acontains(c)
    assert "app_upstreamstylebook" in await objects.all().aexplain()
    assert [x async for x in objects.all().order_by("id")][:3] == [a, b, c]
    assert [x async for x in objects.filter(name="a")] == [a]
    assert await objects.exclude(name="a").acount() == 4
    assert [x async for x in objects.complex_filter(Q(name="b"))] == [b]
    pair = objects.filter(name__in=["a", "b"]).order_by()
    bc = objects.filter(name__in=["b", "c"]).order_by()
    assert {x.name async for x in pair.union(bc)} == {"a", "b", "c"}
    assert [x.name async for x in pair.intersection(bc)] == ["b"]
    assert [x.name async for x in pair.difference(bc)] == ["a"]
    async with async_atomic():
        assert await objects.select_for_update().filter(name="a").aget() == a
    annotated = objects.annotate(n=Length("name")).filter(name="a")
    assert (await annotated.aget()).n == 1
    assert [x.name async for x in objects.order_by("-name")][0] == "d"
    assert await objects.values("name").distinct().acount() == 5
    shouted = objects.extra(select={"shout": "UPPER(name)"}).filter(name="b")
    assert (await shouted.aget()).shout == "B"
    assert [x async for x in objects.order_by("id").reverse()][-1] == a
    assert await objects.using(DEFAULT_DB_ALIAS).acount() == 5
    others = Book.async_objects.filter(name=OuterRef("name")).exclude(pk=OuterRef("pk"))
    assert not await objects.filter(Exists(others)).aexists()  # resolve_expression
    assert objects.order_by("id").ordered and not objects.all().ordered
    assert [x async for x in objects.filter(name="a").values("name")] == [{"name": "a"}]
    flat = objects.order_by("name").values_list("name", flat=True)
    assert [x async for x in flat] == ["E", "a", "b", "c", "d"]
    assert await objects.alias(n=Length("name")).filter(n=1).acount() == 5


@db
async def test_supported_dates_and_datetimes():
    import datetime

    await DatedBook.async_objects.acreate(
        title="x", published=datetime.date(1953, 4, 1)
    )
    years = DatedBook.async_objects.dates("published", "year")
    assert [d async for d in years] == [datetime.date(1953, 1, 1)]
    from tests.app.models import Event

    at = datetime.datetime(2020, 5, 17, 10, 30, tzinfo=datetime.UTC)
    await Event.async_objects.acreate(name="e", at=at)
    days = Event.async_objects.datetimes("at", "day")
    assert [d async for d in days] == [at.replace(hour=0, minute=0)]


@db
async def test_supported_dunder_methods():
    a, b, c = await three_books()
    qs = Book.async_objects.order_by("id")
    assert [x async for x in qs.all()] == [a, b, c]  # __aiter__
    with pytest.raises(TypeError, match="async for obj in qs"):
        iter(qs)
    with pytest.raises(TypeError, match=r"await qs.acount\(\)"):
        len(qs)
    with pytest.raises(TypeError):
        _ = a in qs
    with pytest.raises(TypeError, match=r"await qs.aexists\(\)"):
        bool(qs)
    assert repr(qs).startswith("<QuerySet [SELECT")
    only_a = Book.async_objects.filter(name="a")
    only_b = Book.async_objects.filter(name="b")
    assert [x async for x in (only_a & only_b)] == []
    assert {x.name async for x in (only_a | only_b)} == {"a", "b"}
    assert {x.name async for x in (qs.filter(name__in="ab") ^ qs.filter(name="b"))} == {
        "a"
    }
    assert await qs[1] == b
    assert [x async for x in qs[1:3]] == [b, c]


@db
async def test_supported_model_methods_and_what_we_add():
    assert issubclass(Book, AsyncModelMixin)
    book = Book(name="x")
    await book.async_save()
    await Book.async_objects.filter(pk=book.pk).aupdate(name="y")
    await book.async_refresh_from_db()  # upstream: not supported
    assert book.name == "y"
    assert await book.async_delete() == (1, {"app.UpstreamStyleBook": 1})
    # Upstream: no raw(), select_related, prefetch_related, aaggregate,
    # aiterator, related managers. Here they are Django's, native.
    assert (await Book.async_objects.aaggregate(n=Count("id")))["n"] == 0
    raw = Book.async_objects.raw(f"SELECT * FROM {Book._meta.db_table}")
    assert [x async for x in raw] == []
    assert [x async for x in Book.async_objects.all().aiterator()] == []


# -- docs/setup.md: request signals --------------------------------------------


async def released(connection) -> bool:
    """Whether ``connection`` gives its database connection back soon."""
    for _ in range(500):
        if connection.sync_wrapper.connection is None:
            return True
        await asyncio.sleep(0.01)
    return False


async def a_request(signals_enabled: bool = True) -> Any:
    """A task serving a request: queries, then the request finishes."""
    connection = async_connections["default"]
    await Book.async_objects.acount()
    await signals.request_finished.asend(sender=None)
    if signals_enabled:  # released while the task still runs
        assert await released(connection)
    else:
        assert connection.sync_wrapper.connection is not None
    return connection


@db(transaction=True)
async def test_setup_request_signals_release_connections():
    await asyncio.create_task(a_request())


@db(transaction=True)
async def test_setup_connect_close_old_async_connections_yourself():
    async def request_without_our_receivers() -> bool:
        connection = await a_request(signals_enabled=False)
        signals.request_finished.connect(close_old_async_connections)
        try:
            await signals.request_finished.asend(sender=None)
        finally:
            signals.request_finished.disconnect(close_old_async_connections)
        return connection.sync_wrapper.connection is None

    with override_settings(ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS=True):
        assert await asyncio.create_task(request_without_our_receivers())


# -- docs/connections.md ------------------------------------------------------


@db(transaction=True)
async def test_connections_handler():
    connection = async_connections["default"]
    async with await connection.cursor() as cursor:
        await cursor.execute("SELECT 1")
        rows = await cursor.fetchall()
    assert rows == [(1,)]
    await connection.close()
    assert async_connections["default"] is connection  # reused, reconnects
    async with await connection.cursor() as cursor:
        await cursor.execute("SELECT 2")
        assert await cursor.fetchone() == (2,)


@db
async def test_connections_cursor_api():
    await Book.async_objects.abulk_create([Book(name="a"), Book(name="b")])
    connection = async_connections["default"]
    table = Book._meta.db_table
    cursor = await connection.cursor()
    assert isinstance(cursor, AsyncCursorWrapper)
    await cursor.execute(f"SELECT id, name FROM {table} ORDER BY name")
    assert [column.name if hasattr(column, "name") else column[0]
            for column in cursor.description] == ["id", "name"]  # fmt: skip
    assert (await cursor.fetchone())[1] == "a"
    assert await cursor.fetchmany(5) and await cursor.fetchall() == []
    await cursor.executemany(f"INSERT INTO {table} (name) VALUES (%s)", [["c"], ["d"]])
    await cursor.close()
    async with await connection.cursor() as cursor:
        await cursor.execute(f"SELECT id FROM {table}")
        assert len([row async for row in cursor]) == 4


@requires_postgresql  # psycopg's cursor API: scroll, stream, copy, nextset
@db
async def test_connections_psycopg_cursor_api():
    connection = async_connections["default"]
    table = Book._meta.db_table
    async with await connection.cursor() as cursor:
        await cursor.execute("SELECT generate_series(1, 4)")
        assert cursor.rownumber == 0
        await cursor.scroll(2)
        assert await cursor.fetchone() == (3,) and cursor.rownumber == 3
        assert cursor.nextset() is None
        assert [row async for row in cursor.stream("SELECT 1 UNION ALL SELECT 2")] == [
            (1,),
            (2,),
        ]
        async with cursor.copy(f"COPY {table} (name) FROM STDIN") as copy:
            await copy.write_row(("copied",))
        assert await Book.async_objects.filter(name="copied").aexists()


# -- docs/orm.md ----------------------------------------------------------------


@db(transaction=True)
async def test_orm_async_model_mixin():
    # create / save an instance
    book = Book(name="Django")
    await book.async_save()

    # update via update_fields
    book.name = "Django Async"
    await book.async_save(update_fields=["name"])

    # query through the async_objects manager
    assert [(i.id, i.name) async for i in Book.async_objects.all()] == [
        (book.id, "Django Async")
    ]

    # delete a single instance, or a whole queryset
    await book.async_delete()
    await Book.async_objects.filter(name="Django Async").adelete()
    assert await Book.async_objects.acount() == 0

    await async_connections[DEFAULT_DB_ALIAS].close()


@db
async def test_orm_async_save_arguments_and_meta_options():
    book = Book(name="x")
    await book.async_save(force_insert=True, using="default")
    book.name = "y"
    await book.async_save(force_update=True)
    recipe = Recipe(name="soup")  # Meta.select_on_save
    await recipe.async_save()
    recipe.name = "stew"
    await recipe.async_save()
    steps = [Step(recipe=recipe, text=t) for t in ("chop", "boil")]
    for step in steps:  # Meta.order_with_respect_to
        await step.async_save()
    assert [s._order async for s in Step.async_objects.order_by("_order")] == [0, 1]
    restaurant = Restaurant(name="Chez", serves_pizza=True)  # multi-table
    await restaurant.async_save()
    assert (await Place.async_objects.aget(pk=restaurant.pk)).name == "Chez"


@db
async def test_multi_table_aupdate_works():
    """Upstream can't update a child model's queryset with parent fields."""
    chez = await Restaurant.async_objects.acreate(name="Chez", serves_pizza=False)
    updated = await Restaurant.async_objects.filter(pk=chez.pk).aupdate(
        name="Chez Nous", serves_pizza=True
    )
    assert updated == 1
    await chez.async_refresh_from_db()
    assert (chez.name, chez.serves_pizza) == ("Chez Nous", True)
    assert (await Place.async_objects.aget(pk=chez.pk)).name == "Chez Nous"


@db
async def test_orm_async_delete_arguments_cascades_and_signals():
    restaurant = await Restaurant.async_objects.acreate(name="Chez")
    assert await restaurant.async_delete(keep_parents=True) == (
        1,
        {"app.Restaurant": 1},
    )
    assert await Place.async_objects.filter(name="Chez").aexists()
    recipe = await Recipe.async_objects.acreate(name="soup")
    await Step.async_objects.acreate(recipe=recipe, text="boil")
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append((kwargs["signal"] is pre_delete, sender.__name__))

    pre_delete.connect(receiver)
    post_delete.connect(receiver)
    try:
        assert await recipe.async_delete(using="default") == (
            2,
            {"app.Step": 1, "app.Recipe": 1},
        )
    finally:
        pre_delete.disconnect(receiver)
        post_delete.disconnect(receiver)
    assert (True, "Recipe") in seen and (False, "Step") in seen


@db
async def test_orm_standard_on_delete_handlers():
    target = await Target.async_objects.acreate(name="t")
    target_pk = target.pk
    keep = await OnDelete.async_objects.acreate(
        set_null=target, set_value=target, do_nothing=target
    )
    await OnDelete.async_objects.acreate(cascade=target)
    protected = await OnDelete.async_objects.acreate(protect=target)
    with pytest.raises(ProtectedError):
        await target.async_delete()
    await protected.async_delete()
    await target.async_delete()
    await keep.async_refresh_from_db()
    assert keep.set_null_id is None and keep.do_nothing_id == target_pk
    assert (await Target.async_objects.aget(pk=keep.set_value_id)).name == "replacement"
    assert await OnDelete.async_objects.filter(cascade__isnull=False).acount() == 0


@db
async def test_orm_managers():
    class_ = UpstreamManagerBook
    assert isinstance(class_.async_objects, AsyncManager)
    await class_.async_objects.acreate(name="x")
    assert [i.id async for i in class_.async_objects.all()] != []
    await async_connections[DEFAULT_DB_ALIAS].close()


@db
async def test_orm_content_types():
    ContentType.objects.clear_cache()
    target = await Book.async_objects.acreate(name="target")
    content_type = await aget_for_model(Book)  # warms ContentType's cache
    assert content_type.model_class() is Book
    note = Note(text="x", content_object=target)  # served from the cache
    await note.async_save()
    assert (await Note.async_objects.aget()).object_id == target.pk
    assert await aget_for_model(Book, "default", True) == content_type
    proxy_like = await aget_for_model(Restaurant, for_concrete_model=False)
    assert proxy_like.model == "restaurant"


@db
async def test_orm_pitfalls_query_the_related_model():
    from tests.app.models import Author

    author = await Author.async_objects.acreate(name="Hergé")
    await DatedBook.async_objects.acreate(title="Tintin", author=author)
    titles = [b.title async for b in DatedBook.async_objects.filter(author=author)]
    # Related managers are native here too (upstream: not supported).
    assert titles == [b.title async for b in author.books.all()] == ["Tintin"]


def test_orm_custom_sync_on_delete_is_accepted():
    """Upstream rejects a custom sync on_delete with TypeError; here it works
    (see tests/models/test_deletion.py)."""

    def detach(collector, field, sub_objs, using):
        collector.add_field_update(field, None, sub_objs)

    field = models.ForeignKey(Book, on_delete=detach)
    assert field.remote_field.on_delete is detach


# -- docs/transactions.md -------------------------------------------------------


async def create_instance(name) -> None:
    await Book.async_objects.acreate(name=str(name))


async def names() -> list[str]:
    return sorted([b.name async for b in Book.async_objects.all()])


@db(transaction=True)
async def test_transactions_basic_rollback_and_savepoints():
    async with async_atomic():
        await create_instance(1)
    with pytest.raises(Exception, match="fail"):
        async with async_atomic():
            await create_instance("rolled back")
            raise Exception("fail")  # Nothing is committed
    async with async_atomic():
        await create_instance(2)
        try:
            async with async_atomic():
                await create_instance(3)
                raise Exception("fail inner")  # Only instance 3 is rolled back
        except Exception:
            pass
    assert await names() == ["1", "2"]
    async with async_atomic():
        await create_instance("outer")
        async with async_atomic():  # savepoint
            await create_instance("inner")
    assert await names() == ["1", "2", "inner", "outer"]


async def writer(i) -> None:
    async with async_atomic():
        await create_instance(f"i{i}")


@db(transaction=True)
async def test_transactions_fan_out_on_new_connections():
    await asyncio.gather(*(async_new_connection(writer(i)) for i in range(10)))
    async with async_new_connection():
        await create_instance("solo")
    assert len(await names()) == 11


@requires_concurrent_writers  # the outer block holds SQLite's write lock
@db(transaction=True)
async def test_transactions_new_connections_inside_a_block_commit_on_their_own():
    with pytest.raises(RuntimeError):
        async with async_atomic():
            await asyncio.gather(*(async_new_connection(writer(i)) for i in range(3)))
            raise RuntimeError("the outer block rolls back")
    assert await names() == ["i0", "i1", "i2"]


@db(transaction=True)
async def test_transactions_on_commit_sync_and_async_in_order():
    connection = async_connections[DEFAULT_DB_ALIAS]
    ran = []

    async def send_email(book_id):
        ran.append(("email", book_id))

    def failing():
        raise RuntimeError("logged, not raised")

    async with async_atomic():
        book = await Book.async_objects.acreate(name="Django")
        await connection.on_commit(lambda: send_email(book.pk))
        await connection.on_commit(lambda: ran.append("sync"))
        await connection.on_commit(failing, robust=True)
        await connection.on_commit(lambda: ran.append("after the failure"))
        assert ran == []
    assert ran == [("email", book.pk), "sync", "after the failure"]


# -- docs/concurrency.md --------------------------------------------------------


@db
async def test_concurrency_sequential_and_gathered_counts():
    await three_books()
    assert await Book.async_objects.acount() == 3
    assert await Place.async_objects.acount() == 0
    # Upstream: RuntimeError. Here each task has a connection of its own (in
    # this rolled-back test they join its transaction instead).
    counts = await asyncio.gather(
        Book.async_objects.acount(),
        Place.async_objects.acount(),
        Step.async_objects.acount(),
    )
    assert counts == [3, 0, 0]


@db(transaction=True)
async def test_concurrency_parallel_on_new_connections():
    await three_books()
    results = await asyncio.gather(
        async_new_connection(Book.async_objects.acount()),
        async_new_connection(Place.async_objects.acount()),
        async_new_connection(Step.async_objects.acount()),
    )
    assert results == [3, 0, 0]


# -- docs/testing.md ----------------------------------------------------------------


class MyAsyncTests(AsyncioTestCase):
    async def asyncSetUp(self):
        self.book = await Book.async_objects.acreate(name="setup")

    async def asyncTearDown(self):
        assert await Book.async_objects.acount() == 1

    async def test_something(self):
        self.assertEqual((await Book.async_objects.aget()).name, "setup")


class MyTransactionTests(AsyncioTransactionTestCase):
    async def asyncSetUp(self):
        await Book.async_objects.acreate(name="setup")

    async def asyncTearDown(self):
        await Book.async_objects.all().adelete()

    async def test_something(self):
        async with async_atomic():
            await Book.async_objects.acreate(name="committed")
        async with async_new_connection():  # really committed
            self.assertEqual(await Book.async_objects.acount(), 2)


@requires_postgresql  # counts the server's connections
def test_testing_connections_are_closed_at_teardown(async_django_db_setup, observer):
    """ "Both test cases close every configured async connection during
    teardown"."""
    before = {pid for pid, _, _ in observer.backends()}
    for case in (MyAsyncTests, MyTransactionTests):
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
        result = unittest.TestResult()
        suite.run(result)
        assert result.wasSuccessful(), result.errors + result.failures
    after = {pid for pid, _, _ in observer.backends()}
    assert after <= before
