"""Async views on Django's native ORM, running on async connections.

Every query here is Django's ORM (``aget``, ``async for``, ``aupdate``, ...);
with django_async_backend's ENGINE it runs on the request task's own
connection, with no thread hop. Transactions are ``async_atomic`` blocks;
``on_commit`` hooks write the activity log only once a change is committed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.db.models import Count, F, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import aget_object_or_404
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic, on_commit
from django_async_backend.models import Param, prepare

from .models import Activity, Author, Book, Loan, Tag

logger = logging.getLogger("catalog")


# -- JSON shapes --------------------------------------------------------------


def book_json(book: Book) -> dict[str, Any]:
    # book.author comes from select_related, book.tags from prefetch_related:
    # no query here (lazy loading from async code would raise).
    return {
        "id": book.pk,
        "title": book.title,
        "author": {"id": book.author.pk, "name": book.author.name},
        "published": book.published,
        "tags": [tag.name for tag in book.tags.all()],
        "copies": book.copies,
        "available": book.available,
    }


def loan_json(loan: Loan) -> dict[str, Any]:
    return {
        "id": loan.pk,
        "book": loan.book_id,
        "borrower": loan.borrower,
        "borrowed_at": loan.borrowed_at.isoformat(),
        "returned_at": loan.returned_at.isoformat() if loan.returned_at else None,
    }


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


View = Callable[..., Awaitable[HttpResponse]]


def api(*methods: str) -> Callable[[View], View]:
    """Decorate a JSON endpoint: every answer is JSON, errors included.

    Other methods get a 405 whose body names the ones to use (and the
    ``Allow`` header); an unknown id gets a JSON 404 instead of Django's
    HTML page. POST endpoints take JSON from any client (no CSRF cookie).
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        async def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method not in methods:
                response = error(
                    405,
                    f"{request.method} is not allowed on {request.path}: "
                    f"use {' or '.join(methods)}.",
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return await view(request, *args, **kwargs)
            except Http404 as exc:
                return error(404, str(exc))

        return csrf_exempt(endpoint) if "POST" in methods else endpoint

    return decorate


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ValueError("The body must be a JSON object.")
    return data


async def record(message: str) -> None:
    """An ``on_commit`` hook: runs after the transaction commits, never if it
    rolls back."""
    await Activity.objects.acreate(message=message)
    logger.info(message)


def catalogue() -> Any:
    return Book.objects.select_related("author").prefetch_related("tags")


# -- pages ----------------------------------------------------------------------


@require_GET
async def index(request: HttpRequest) -> HttpResponse:
    books = [book async for book in catalogue()]
    rows = format_html_join(
        "\n",
        "<tr><td><a href='/api/books/{}/'>{}</a></td><td>{}</td><td>{}</td>"
        "<td>{}/{}</td></tr>",
        (
            (b.pk, b.title, b.author.name, ", ".join(t.name for t in b.tags.all()),
             b.available, b.copies)
            for b in books
        ),
    )  # fmt: skip
    vendor = async_connections["default"].vendor
    return HttpResponse(
        format_html(
            "<!doctype html><title>Library</title><h1>Library catalogue</h1>"
            "<p>{} books, served by Django's async ORM on {}. API: "
            "<a href='/api/books/'>/api/books/</a>, "
            "<a href='/api/stats/'>/api/stats/</a>, "
            "<a href='/api/activity/'>/api/activity/</a>.</p>"
            "<table><tr><th>Title</th><th>Author</th><th>Tags</th>"
            "<th>Available</th></tr>{}</table>",
            len(books),
            vendor,
            rows,
        )
    )


@api("GET")
async def health(request: HttpRequest) -> JsonResponse:
    connection = async_connections["default"]
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT 1")
        ok = await cursor.fetchone() == (1,)
    return JsonResponse({"ok": ok, "database": connection.vendor})


# -- books ------------------------------------------------------------------------


@api("GET", "POST")
async def books(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        return await create_book(request)
    queryset = catalogue()
    if query := request.GET.get("q"):
        queryset = queryset.filter(
            Q(title__icontains=query) | Q(author__name__icontains=query)
        )
    if tag := request.GET.get("tag"):
        queryset = queryset.filter(tags__name=tag)
    return JsonResponse({"books": [book_json(book) async for book in queryset]})


async def create_book(request: HttpRequest) -> JsonResponse:
    try:
        data = json_body(request)
        title, author_name = str(data["title"]), str(data["author"])
        published, copies = int(data["published"]), int(data.get("copies", 1))
        tag_names = [str(name) for name in data.get("tags", [])]
    except (KeyError, TypeError, ValueError) as exc:
        return error(
            400, f"Expected title, author, published (and copies, tags): {exc}"
        )
    if copies < 1:
        return error(400, "copies must be at least 1.")
    # One transaction: the author, the tags, the book and its tag links are
    # all created, or none is.
    async with async_atomic():
        author, _ = await Author.objects.aget_or_create(name=author_name)
        book = await Book.objects.acreate(
            title=title, author=author, published=published, copies=copies,
            available=copies,
        )  # fmt: skip
        tags = [(await Tag.objects.aget_or_create(name=name))[0] for name in tag_names]
        await book.tags.aset(tags)
        await on_commit(functools.partial(record, f"Added {title!r} by {author_name}"))
    book = await catalogue().aget(pk=book.pk)
    return JsonResponse(book_json(book), status=201)


@api("GET")
async def book_detail(request: HttpRequest, pk: int) -> JsonResponse:
    open_loans = Loan.objects.filter(returned_at__isnull=True)
    book = await aget_object_or_404(
        catalogue().prefetch_related(
            Prefetch("loans", open_loans, to_attr="open_loans")
        ),
        pk=pk,
    )
    return JsonResponse(
        {**book_json(book), "loans": [loan_json(x) for x in book.open_loans]}
    )


# The book page again, on prepared querysets: each is compiled once per
# process (at its first use) and binds the request's pk. The end-to-end
# benchmark loads it as "the page using prepared querysets".
book_by_pk = prepare(Book.objects.select_related("author").filter(pk=Param("pk")))
tag_names_of = prepare(
    Tag.objects.filter(books=Param("pk")).values_list("name", flat=True)
)
open_loans_of = prepare(Loan.objects.filter(book=Param("pk"), returned_at__isnull=True))


@api("GET")
async def book_detail_prepared(request: HttpRequest, pk: int) -> JsonResponse:
    """``book_detail``'s JSON, from three prepared querysets."""
    try:
        book = await book_by_pk.aget(pk=pk)
    except Book.DoesNotExist:
        raise Http404("No Book matches the given query.") from None
    tags = [name async for name in tag_names_of.aiterate(pk=pk)]
    loans = [loan_json(loan) async for loan in open_loans_of.aiterate(pk=pk)]
    return JsonResponse(
        {
            "id": book.pk,
            "title": book.title,
            "author": {"id": book.author.pk, "name": book.author.name},
            "published": book.published,
            "tags": tags,
            "copies": book.copies,
            "available": book.available,
            "loans": loans,
        }
    )


@api("POST")
async def borrow(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        borrower = str(json_body(request)["borrower"]).strip()
    except (KeyError, ValueError) as exc:
        return error(400, f"Expected {{'borrower': name}}: {exc}")
    if not borrower:
        return error(400, "borrower must not be empty.")
    async with async_atomic():
        # Locks the row on PostgreSQL; on SQLite the transaction itself holds
        # the database's write lock (BEGIN IMMEDIATE).
        book = await aget_object_or_404(Book.objects.select_for_update(), pk=pk)
        if book.available == 0:
            return error(409, f"No copy of {book.title!r} is available.")
        book.available -= 1
        await book.asave(update_fields=["available"])
        loan = await Loan.objects.acreate(book=book, borrower=borrower)
        await on_commit(
            functools.partial(record, f"{borrower} borrowed {book.title!r}")
        )
    return JsonResponse(loan_json(loan), status=201)


@api("POST")
async def return_loan(request: HttpRequest, pk: int) -> JsonResponse:
    async with async_atomic():
        loan = await aget_object_or_404(
            Loan.objects.select_for_update().select_related("book"), pk=pk
        )
        if loan.returned_at is not None:
            return error(409, "This loan was returned already.")
        loan.returned_at = timezone.now()
        await loan.asave(update_fields=["returned_at"])
        await Book.objects.filter(pk=loan.book_id).aupdate(available=F("available") + 1)
        await on_commit(
            functools.partial(record, f"{loan.borrower} returned {loan.book.title!r}")
        )
    return JsonResponse(loan_json(loan))


# -- authors, statistics, activity --------------------------------------------


@api("GET")
async def author_detail(request: HttpRequest, pk: int) -> JsonResponse:
    author = await aget_object_or_404(
        Author.objects.prefetch_related(
            Prefetch("books", catalogue().order_by("published"))
        ),
        pk=pk,
    )
    return JsonResponse(
        {
            "id": author.pk,
            "name": author.name,
            "born": author.born,
            "books": [book_json(book) for book in author.books.all()],
        }
    )


async def popular_tags(limit: int = 5) -> list[dict[str, Any]]:
    tags = Tag.objects.annotate(n=Count("books")).order_by("-n", "name")[:limit]
    return [{"tag": tag.name, "books": tag.n} async for tag in tags]


@api("GET")
async def stats(request: HttpRequest) -> JsonResponse:
    # Independent queries, each in its own task on its own connection: they
    # run at the same time.
    books, authors, on_loan, tags = await asyncio.gather(
        Book.objects.acount(),
        Author.objects.acount(),
        Loan.objects.filter(returned_at__isnull=True).acount(),
        popular_tags(),
    )
    return JsonResponse(
        {"books": books, "authors": authors, "on_loan": on_loan, "popular_tags": tags}
    )


@api("GET")
async def activity(request: HttpRequest) -> JsonResponse:
    latest = Activity.objects.all()[:50]
    return JsonResponse(
        {
            "activity": [
                {"at": a.at.isoformat(), "message": a.message} async for a in latest
            ]
        }
    )


@csrf_exempt
async def not_found(request: HttpRequest, path: str) -> JsonResponse:
    """Any other /api/ URL (any method): a JSON 404 too."""
    return error(404, f"No API endpoint at {request.path}.")
