"""Views of the request-path tests: the kind of page a real project serves."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import aauthenticate, alogin, alogout
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.csrf import csrf_exempt

from django_async_backend.db import async_connections
from django_async_backend.db.bridge import in_bridge
from django_async_backend.db.transaction import async_atomic, on_commit
from django_async_backend.handlers import native_view
from tests.app.models import Author, Book

COMMITTED: list[str] = []
"""What on_commit callbacks of the views recorded (the tests reset it)."""


def _backend_pid() -> int | None:
    """The server process of the request's connection, if it is PostgreSQL."""
    wrapper = async_connections["default"].sync_wrapper
    connection = wrapper.connection
    if wrapper.vendor != "postgresql" or connection is None:
        return None
    return connection.raw.info.backend_pid


async def page(request: HttpRequest, pk: int) -> JsonResponse:
    """A logged-in page: the session user, a related object, a count."""
    user = await request.auser()
    book = await Book.objects.select_related("author").aget(pk=pk)
    count = await Book.objects.acount()
    titles = [b.title async for b in book.author.books.order_by("id")]
    return JsonResponse(
        {
            "user": user.get_username() if user.is_authenticated else None,
            "book": book.title,
            "author": book.author.name,
            "titles": titles,
            "count": count,
            "messages": [str(m) for m in messages.get_messages(request)],
            "pid": _backend_pid(),
        }
    )


async def login(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    user = await aauthenticate(
        request, username=data["username"], password=data["password"]
    )
    if user is None:
        return JsonResponse({"ok": False}, status=403)
    await alogin(request, user)
    messages.success(request, f"welcome {user.get_username()}")
    return JsonResponse({"ok": True})


async def logout(request: HttpRequest) -> JsonResponse:
    await alogout(request)
    return JsonResponse({"ok": True})


async def write(request: HttpRequest) -> JsonResponse:
    """A CSRF-protected POST writing twice in one transaction."""
    data = json.loads(request.body)
    async with async_atomic():
        author = await Author.objects.acreate(name=data["author"])
        book = await Book.objects.acreate(title=data["title"], author=author)
        await on_commit(lambda: COMMITTED.append(book.title))
    return JsonResponse({"book": book.pk, "pid": _backend_pid()})


async def atomic_write(request: HttpRequest) -> JsonResponse:
    """Under ATOMIC_REQUESTS: both writes or neither, no async_atomic here."""
    data = json.loads(request.body)
    author = await Author.objects.acreate(name=data["author"])
    book = await Book.objects.acreate(title=data["title"], author=author)
    await on_commit(lambda: COMMITTED.append(book.title))
    in_block = async_connections["default"].in_atomic_block
    if data.get("fail"):
        raise ValueError("the view fails: its transaction rolls back")
    return JsonResponse({"book": book.pk, "in_atomic_block": in_block})


@transaction.non_atomic_requests
async def non_atomic_write(request: HttpRequest) -> JsonResponse:
    return await atomic_write(request)


def _sync_count(request: HttpRequest) -> JsonResponse:
    # Plain sync ORM: in the bridge it runs on the request task's connection.
    return JsonResponse({"count": Book.objects.count(), "in_bridge": in_bridge()})


sync_count = csrf_exempt(_sync_count)
native_sync_count = native_view(csrf_exempt(_sync_count))


async def template_page(request: HttpRequest) -> TemplateResponse:
    """A deferred-rendering response: rendered after the view returns."""
    return TemplateResponse(
        request, "handlers/page.html", {"books": Book.objects.all()}
    )


async def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


async def slow(request: HttpRequest) -> JsonResponse:
    """A view still in its transaction when the client goes away."""
    async with async_atomic():
        await Author.objects.acreate(name="never committed")
        async with async_connections["default"].cursor() as cursor:
            await cursor.execute("SELECT pg_sleep(30)")
    return JsonResponse({"done": True})


async def plain_db(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"count": await Book.objects.acount()})
