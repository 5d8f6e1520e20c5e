"""The pages the end-to-end benchmark serves, once per API family.

``page``: a logged-in user's page: the session user (``request.auser()`` /
``request.user``), a book with its author (``select_related``), the author's
other books (a related manager) and a count: with the session, five queries.
``write``: a CSRF-protected POST writing twice in one transaction (an entry
and its author's counter), after the session user.

``ours`` and ``stock_async`` are the same ``async def`` views on Django's
a-methods: natively on our ENGINE, through ``sync_to_async`` on Django's.
Django has no async transaction, so the stock write runs a sync function
with ``transaction.atomic`` through ``sync_to_async``, as a project would.
``upstream`` uses the PyPI package's ``Model.async_objects`` and its
``async_atomic``; ``stock_sync`` is the sync twin of the views.
"""

from __future__ import annotations

import os
from typing import Any

from django.db.models import F
from django.http import HttpRequest, HttpResponseForbidden, JsonResponse

from ..app.models import Author, Book, Entry

CONTENDER = os.environ.get("BENCH_E2E_CONTENDER", "ours")
OTHERS = 10


def _page_json(user: Any, book: Any, others: list[Any], entries: int) -> JsonResponse:
    return JsonResponse(
        {
            "user": user.get_username(),
            "book": {"id": book.pk, "title": book.title, "author": book.author.name},
            "others": [b.title for b in others],
            "entries": entries,
        }
    )


# -- Django's a-methods (ours natively, stock through sync_to_async) -----------


async def page_async(request: HttpRequest, pk: int) -> Any:
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponseForbidden()
    book = await Book.objects.select_related("author").aget(pk=pk)
    others = [b async for b in book.author.books.order_by("id")[:OTHERS]]
    entries = await Entry.objects.filter(author_id=book.author_id).acount()
    return _page_json(user, book, others, entries)


async def write_native(request: HttpRequest, pk: int) -> Any:
    from django_async_backend.db.transaction import async_atomic

    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponseForbidden()
    async with async_atomic():
        entry = await Entry.objects.acreate(author_id=pk, amount=1)
        await Author.objects.filter(pk=pk).aupdate(entries=F("entries") + 1)
    return JsonResponse({"entry": entry.pk})


def _write_in_transaction(pk: int) -> Any:
    from django.db import transaction

    with transaction.atomic():
        entry = Entry.objects.create(author_id=pk, amount=1)
        Author.objects.filter(pk=pk).update(entries=F("entries") + 1)
    return entry


async def write_stock_async(request: HttpRequest, pk: int) -> Any:
    from asgiref.sync import sync_to_async

    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponseForbidden()
    entry = await sync_to_async(_write_in_transaction)(pk)
    return JsonResponse({"entry": entry.pk})


# -- the upstream package's API -------------------------------------------------


async def page_upstream(request: HttpRequest, pk: int) -> Any:
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponseForbidden()
    book = await Book.async_objects.select_related("author").aget(pk=pk)
    others = [
        b
        async for b in Book.async_objects.filter(author_id=book.author_id).order_by(
            "id"
        )[:OTHERS]
    ]
    entries = await Entry.async_objects.filter(author_id=book.author_id).acount()
    return _page_json(user, book, others, entries)


async def write_upstream(request: HttpRequest, pk: int) -> Any:
    from django_async_backend.db.transaction import async_atomic

    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponseForbidden()
    async with async_atomic():
        entry = await Entry.async_objects.acreate(author_id=pk, amount=1)
        await Author.async_objects.filter(pk=pk).aupdate(entries=F("entries") + 1)
    return JsonResponse({"entry": entry.pk})


# -- the sync twin (WSGI) -------------------------------------------------------


def page_sync(request: HttpRequest, pk: int) -> Any:
    user = request.user
    if not user.is_authenticated:
        return HttpResponseForbidden()
    book = Book.objects.select_related("author").get(pk=pk)
    others = list(book.author.books.order_by("id")[:OTHERS])
    entries = Entry.objects.filter(author_id=book.author_id).count()
    return _page_json(user, book, others, entries)


def write_sync(request: HttpRequest, pk: int) -> Any:
    if not request.user.is_authenticated:
        return HttpResponseForbidden()
    entry = _write_in_transaction(pk)
    return JsonResponse({"entry": entry.pk})


VIEWS = {
    "ours": (page_async, write_native),
    "stock_async": (page_async, write_stock_async),
    "upstream": (page_upstream, write_upstream),
    "stock_sync": (page_sync, write_sync),
}
page, write = VIEWS[CONTENDER]


async def hops(request: HttpRequest) -> JsonResponse:
    """The server's thread hops since the last call (``BENCH_COUNT_HOPS``)."""
    from .asgi import hop_counter

    counted = hop_counter.take() if hop_counter is not None else None
    return JsonResponse({"hops": counted})
