"""Related managers: FK reverse, many-to-many and generic relations."""

from __future__ import annotations

import pytest
from django.db.models.signals import m2m_changed

from django_async_backend.contrib.contenttypes import aget_for_models
from tests.app.models import Author, Book, Note, Tag

pytestmark = pytest.mark.async_django_db


async def titles(author):
    return sorted([b.title async for b in author.books.all()])


async def test_reverse_foreign_key_manager():
    author = await Author.objects.acreate(name="A")
    other = await Author.objects.acreate(name="B")
    first = await author.books.acreate(title="one")
    second = await Book.objects.acreate(title="two", author=other)
    await author.books.aadd(second)
    assert await titles(author) == ["one", "two"]
    book, created = await author.books.aget_or_create(title="three")
    assert created and book.author_id == author.pk
    book, created = await author.books.aupdate_or_create(
        title="three", defaults={"pages": 3}
    )
    assert not created and book.pages == 3
    await author.books.aremove(first)  # nullable FK: set to NULL
    assert await titles(author) == ["three", "two"]
    await author.books.aset([first])
    assert await titles(author) == ["one"]
    await author.books.aclear()
    assert await titles(author) == []
    assert await Book.objects.filter(author__isnull=True).acount() == 3


async def test_many_to_many_manager_with_signals():
    book = await Book.objects.acreate(title="b")
    red, blue, green = [
        await Tag.objects.acreate(name=n) for n in ("red", "blue", "green")
    ]
    actions = []

    def receiver(sender, action, **kwargs):
        actions.append(action)

    m2m_changed.connect(receiver, sender=Book.tags.through)
    try:
        await book.tags.aadd(red, blue)
        await book.tags.aremove(blue)
        await book.tags.aset([green, red])
        created = await book.tags.acreate(name="purple")
        tag, was_created = await book.tags.aget_or_create(name="red")
        assert not was_created and tag.pk == red.pk
        tag, was_created = await book.tags.aupdate_or_create(
            name="cyan", defaults={"name": "cyan"}
        )
        assert was_created
        names = sorted([t.name async for t in book.tags.all()])
        assert names == ["cyan", "green", "purple", "red"]
        assert [b.pk async for b in created.books.all()] == [book.pk]
        await book.tags.aclear()
        assert not await book.tags.aexists()
    finally:
        m2m_changed.disconnect(receiver, sender=Book.tags.through)
    assert actions[:4] == ["pre_add", "post_add", "pre_remove", "post_remove"]
    assert actions[-2:] == ["pre_clear", "post_clear"]


async def test_generic_relation_manager_and_prefetch():
    # Building book.notes looks the ContentType up synchronously, as in
    # Django: warm the cache first (natively).
    await aget_for_models(Book, Author)
    book = await Book.objects.acreate(title="b")
    note = await book.notes.acreate(text="first")
    loose = await Note.objects.acreate(
        text="loose", content_object=await Author.objects.acreate(name="x")
    )
    await book.notes.aadd(loose)
    assert sorted([n.text async for n in book.notes.all()]) == ["first", "loose"]
    await book.notes.aremove(note)
    assert [n.text async for n in book.notes.all()] == ["loose"]
    books = [
        b async for b in Book.objects.prefetch_related("notes", "notes__content_object")
    ]
    assert [n.text for n in books[0].notes.all()] == ["loose"]
    got, created = await book.notes.aget_or_create(text="loose")
    assert not created
    await book.notes.aset([note])
    await book.notes.aclear()
    assert not await book.notes.aexists()
