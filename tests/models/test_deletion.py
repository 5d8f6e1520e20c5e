"""Custom async on_delete handlers are awaited; sync ones keep working."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from django_async_backend.db.transaction import async_atomic
from tests.app.models import (
    AuditLog,
    Owner,
    Pet,
    cascade_through_collector,
    detach,
    detach_and_log,
)

db = pytest.mark.async_django_db


async def owner_with_pets(*names: str, relation: str = "owner") -> Owner:
    owner = await Owner.objects.acreate(name="Ada")
    for name in names:
        await Pet.objects.acreate(name=name, **{relation: owner})
    return owner


async def messages() -> list[str]:
    return [log.message async for log in AuditLog.objects.order_by("id")]


@db
async def test_an_async_handler_is_awaited_in_its_transaction():
    owner = await owner_with_pets("Rex", "Felix")
    assert await owner.adelete() == (1, {"app.Owner": 1})
    # The handler's own query and its field update both happened.
    assert await messages() == ["detached Felix, Rex"]
    assert [p.owner_id async for p in Pet.objects.all()] == [None, None]

    other = await owner_with_pets("Tom")
    other_pk = other.pk
    with pytest.raises(RuntimeError):
        async with async_atomic():
            await other.adelete()
            raise RuntimeError("roll the delete back")
    # Rolled back with the delete: the log line and the detached pet.
    assert await messages() == ["detached Felix, Rex"]
    assert await Pet.objects.filter(owner_id=other_pk).acount() == 1


@db
async def test_an_async_handler_awaits_the_collector():
    owner = await owner_with_pets("Rex", "Felix", relation="keeper")
    deleted = await Owner.objects.filter(pk=owner.pk).adelete()
    assert deleted == (3, {"app.Pet": 2, "app.Owner": 1})
    assert await Pet.objects.acount() == 0


@db
async def test_sync_handlers_keep_working():
    owner = await owner_with_pets("Rex", relation="walker")
    await owner.async_delete()
    assert [p.walker_id async for p in Pet.objects.all()] == [None]


@pytest.mark.allows_thread_hops  # async_to_sync runs the handler's event loop
def test_an_async_handler_runs_in_sync_code(async_django_db_setup):
    owner = Owner.objects.create(name="Ada")
    pet = Pet.objects.create(name="Rex", owner=owner)
    try:
        owner.delete()
        pet.refresh_from_db()
        assert pet.owner_id is None
        assert list(AuditLog.objects.values_list("message", flat=True)) == [
            "detached Rex"
        ]
    finally:
        Pet.objects.all().delete()
        AuditLog.objects.all().delete()


def test_migrations_and_fields_see_the_declared_handlers(async_django_db_setup):
    for name, handler in [
        ("owner", detach_and_log),
        ("keeper", cascade_through_collector),
        ("walker", detach),
    ]:
        field = Pet._meta.get_field(name)
        assert field.remote_field.on_delete is handler
        assert field.deconstruct()[3]["on_delete"] is handler
    out = io.StringIO()
    call_command("makemigrations", "app", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()
