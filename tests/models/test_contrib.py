"""The rest of Django's async API: prefetch helper, shortcuts, contrib.auth,
contrib.sessions and the async paginator."""

from __future__ import annotations

import django
import pytest
from django.contrib.auth import aauthenticate, get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import aprefetch_related_objects
from django.http import Http404
from django.shortcuts import aget_list_or_404, aget_object_or_404

from tests.app.models import Author, Book

pytestmark = pytest.mark.async_django_db


async def test_aprefetch_related_objects():
    author = await Author.objects.acreate(name="A")
    await Book.objects.acreate(title="b", author=author)
    authors = [a async for a in Author.objects.all()]
    await aprefetch_related_objects(authors, "books")
    assert [b.title for b in authors[0].books.all()] == ["b"]  # from the cache


async def test_shortcuts():
    author = await Author.objects.acreate(name="A")
    assert (await aget_object_or_404(Author, pk=author.pk)).name == "A"
    with pytest.raises(Http404):
        await aget_object_or_404(Author.objects.filter(name="B"))
    assert await aget_list_or_404(Author, name="A") == [author]
    with pytest.raises(Http404):
        await aget_list_or_404(Author, name="nobody")


async def test_auth_users_authentication_and_permissions():
    User = get_user_model()
    user = await User.objects.acreate_user("tintin", "t@example.com", "milou")
    assert user.check_password("milou")
    assert (await User.objects.aget_by_natural_key("tintin")).pk == user.pk
    assert await aauthenticate(username="tintin", password="milou") == user
    assert await aauthenticate(username="tintin", password="wrong") is None
    assert await aauthenticate(username="nobody", password="x") is None

    permission = await Permission.objects.aget(codename="add_book")
    group = await Group.objects.acreate(name="editors")
    await group.permissions.aadd(permission)
    await user.groups.aadd(group)
    user = await User.objects.aget(pk=user.pk)  # permission caches are per instance
    assert await user.ahas_perm("app.add_book")
    assert not await user.ahas_perm("app.delete_book")
    assert await user.aget_all_permissions() == {"app.add_book"}
    assert await user.ahas_module_perms("app")
    superuser = await User.objects.acreate_superuser("boss", "b@example.com", "pw")
    assert await superuser.ahas_perm("anything.at_all")


async def test_database_sessions():
    session = SessionStore()
    await session.aset("cart", [1, 2])
    await session.asave()
    key = session.session_key
    loaded = SessionStore(session_key=key)
    assert await loaded.aget("cart") == [1, 2]
    assert await loaded.aexists(key)
    await loaded.adelete()
    assert not await SessionStore().aexists(key)
    await SessionStore.aclear_expired()


@pytest.mark.skipif(
    django.VERSION < (6, 0), reason="AsyncPaginator is new in Django 6.0"
)
async def test_async_paginator():
    from django.core.paginator import AsyncPaginator

    await Book.objects.abulk_create([Book(title=f"b{i:02}") for i in range(25)])
    paginator = AsyncPaginator(Book.objects.order_by("title"), 10)
    assert await paginator.acount() == 25
    assert await paginator.anum_pages() == 3
    page = await paginator.apage(3)
    assert [b.title for b in await page.aget_object_list()] == [
        "b20",
        "b21",
        "b22",
        "b23",
        "b24",
    ]
    assert not await page.ahas_next()
