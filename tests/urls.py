"""URLs for tests that go through Django's request handling."""

from django.http import JsonResponse
from django.urls import path

from django_async_backend.db import async_connections
from tests.app.models import Book


async def book_count(request):
    connection = async_connections["default"]
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT pg_backend_pid()")
        pid = (await cursor.fetchone())[0]
    return JsonResponse({"count": await Book.objects.acount(), "pid": pid})


urlpatterns = [path("books/count", book_count)]
