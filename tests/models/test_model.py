"""Model a-methods: asave, adelete, arefresh_from_db, with signals, cascades
and code that isn't ours calling the sync ORM inside the bridge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.db.models import ProtectedError, RestrictedError
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.test.utils import override_settings

from django_async_backend.db.transaction import async_atomic
from tests.app.models import (
    AuditedAuthor,
    AuditLog,
    Author,
    Book,
    OnDelete,
    Place,
    Restaurant,
    Target,
)

pytestmark = pytest.mark.async_django_db


@pytest.fixture
def signal_log() -> Iterator[list[tuple[str, str, bool | None]]]:
    log: list[tuple[str, str, bool | None]] = []

    def receiver(signal_name):
        def record(sender, instance, **kwargs):
            log.append((signal_name, sender.__name__, kwargs.get("created")))

        return record

    receivers = [
        (signal, receiver(name))
        for signal, name in [
            (pre_save, "pre_save"),
            (post_save, "post_save"),
            (pre_delete, "pre_delete"),
            (post_delete, "post_delete"),
        ]
    ]
    for signal, func in receivers:
        signal.connect(func)
    yield log
    for signal, func in receivers:
        signal.disconnect(func)


async def test_asave_insert_update_and_update_fields(signal_log):
    author = Author(name="Hergé")
    await author.asave()
    assert author.pk is not None
    author.name = "Georges Remi"
    await author.asave(update_fields=["name"])
    assert (await Author.objects.aget(pk=author.pk)).name == "Georges Remi"
    assert signal_log == [
        ("pre_save", "Author", None),
        ("post_save", "Author", True),
        ("pre_save", "Author", None),
        ("post_save", "Author", False),
    ]
    author.name = "ignored"
    await author.asave(update_fields=[])  # no query at all
    assert (await Author.objects.aget(pk=author.pk)).name == "Georges Remi"


async def test_multi_table_inheritance():
    restaurant = Restaurant(name="Chez Tintin", serves_pizza=True)
    await restaurant.asave()
    assert await Place.objects.filter(name="Chez Tintin").aexists()
    place = await Place.objects.aget(pk=restaurant.pk)
    assert (await Restaurant.objects.aget(place_ptr=place)).serves_pizza
    await restaurant.adelete()
    assert not await Place.objects.aexists()


@pytest.mark.allows_thread_hops  # the reference run takes Django's thread path
@pytest.mark.async_django_db(transaction=True)  # that path commits
async def test_adelete_cascades_with_signals_in_djangos_order(signal_log):
    async def scenario():
        author = await Author.objects.acreate(name="A")
        await Book.objects.acreate(title="B", author=author)
        signal_log.clear()
        deleted = await author.adelete()
        return deleted, list(signal_log)

    native = await scenario()
    with override_settings(ASYNC_BACKEND_NATIVE_ORM=False):
        reference = await scenario()
        # Django's thread path leaves its worker thread's connection open.
        await sync_to_async(connections.close_all)()
    assert native == reference
    assert native[0] == (2, {"app.Book": 1, "app.Author": 1})
    assert {entry[0] for entry in native[1]} == {"pre_delete", "post_delete"}


async def test_every_on_delete_behaviour():
    target = await Target.objects.acreate(name="t")
    # CASCADE
    await OnDelete.objects.acreate(cascade=target)
    # SET_NULL / SET_DEFAULT / SET(...) / DO_NOTHING
    row = await OnDelete.objects.acreate(
        set_null=target, set_default=target, set_value=target, do_nothing=target
    )
    # PROTECT and RESTRICT block the delete.
    protector = await OnDelete.objects.acreate(protect=target)
    with pytest.raises(ProtectedError):
        await target.adelete()
    await protector.adelete()
    restrictor = await OnDelete.objects.acreate(restrict=target)
    with pytest.raises(RestrictedError):
        await target.adelete()
    await restrictor.adelete()

    await target.adelete()
    assert not await OnDelete.objects.filter(cascade__isnull=False).aexists()
    await row.arefresh_from_db()
    assert row.set_null_id is None
    assert (await Target.objects.aget(pk=row.set_default_id)).name == "default"
    assert (await Target.objects.aget(pk=row.set_value_id)).name == "replacement"
    assert row.do_nothing_id == target.id or row.do_nothing_id is not None


async def test_arefresh_from_db_fields_and_queryset():
    author = await Author.objects.acreate(name="before")
    await Author.objects.filter(pk=author.pk).aupdate(name="after")
    await author.arefresh_from_db(fields=["name"])
    assert author.name == "after"
    await Author.objects.filter(pk=author.pk).aupdate(name="again")
    await author.arefresh_from_db(from_queryset=Author.objects.only("name"))
    assert author.name == "again"


async def test_custom_save_using_the_sync_orm_joins_the_transaction():
    with pytest.raises(RuntimeError):
        async with async_atomic():
            await AuditedAuthor.objects.acreate(name="x")
            assert await AuditLog.objects.acount() == 1
            raise RuntimeError
    assert await AuditLog.objects.acount() == 0
    author = await AuditedAuthor.objects.acreate(name="y")
    author.name = "z"
    await author.asave()
    assert [log.message async for log in AuditLog.objects.order_by("id")] == [
        "created y",
        "saved z",
    ]


async def test_sync_receiver_queries_on_the_same_connection_and_transaction():
    def receiver(sender, instance, created, **kwargs):
        if created:
            Book.objects.create(title=f"first book of {instance.name}", author=instance)

    post_save.connect(receiver, sender=Author)
    try:
        async with async_atomic():
            author = await Author.objects.acreate(name="R")
            assert await author.books.acount() == 1
    finally:
        post_save.disconnect(receiver, sender=Author)


async def test_async_receiver_sent_from_inside_the_bridge():
    """Django runs async receivers of a sync send() with async_to_sync; inside
    the bridge they are awaited through it, acting for the calling task."""
    seen = []

    async def receiver(sender, instance, created, **kwargs):
        seen.append(await Author.objects.filter(pk=instance.pk).aexists())

    post_save.connect(receiver, sender=Author)
    try:
        async with async_atomic():
            await Author.objects.acreate(name="async receiver")
    finally:
        post_save.disconnect(receiver, sender=Author)
    assert seen == [True]  # the receiver saw the uncommitted row
