"""The upstream project's model API maps onto Django's native a-methods."""

from __future__ import annotations

import pytest

from django_async_backend.db.transaction import async_atomic
from tests.app.models import UpstreamStyleBook

pytestmark = pytest.mark.async_django_db


async def test_async_objects_and_instance_methods():
    # The default manager, for async code (see tests/models/test_async_objects.py).
    default = UpstreamStyleBook._default_manager
    assert isinstance(UpstreamStyleBook.async_objects, type(default))
    assert UpstreamStyleBook.async_objects.model is UpstreamStyleBook
    async with async_atomic():
        book = await UpstreamStyleBook.async_objects.acreate(name="Django")
        book.name = "Django Async"
        await book.async_save(update_fields=["name"])
        async with async_atomic():
            await UpstreamStyleBook.async_objects.filter(name="draft").adelete()
    assert await UpstreamStyleBook.async_objects.acount() == 1
    await UpstreamStyleBook.async_objects.filter(pk=book.pk).aupdate(name="changed")
    await book.async_refresh_from_db()
    assert book.name == "changed"
    assert [b.name async for b in UpstreamStyleBook.async_objects.order_by("name")] == [
        "changed"
    ]
    assert await book.async_delete() == (1, {"app.UpstreamStyleBook": 1})
    with pytest.raises(AttributeError, match="isn't accessible via"):
        _ = book.async_objects
