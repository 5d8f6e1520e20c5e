"""Prepared querysets run as server-side prepared statements on PostgreSQL
(``OPTIONS["prepared_statements"]``), and only they do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.db.models import Count

from django_async_backend.db import async_connections
from django_async_backend.db.backends.postgresql import prepared_statements
from django_async_backend.models import Param, prepare
from tests.app.models import Author, Book

pytestmark = pytest.mark.requires_postgresql


@contextmanager
def option(value: Any) -> Iterator[None]:
    options = connections.settings["default"]["OPTIONS"]
    options["prepared_statements"] = value
    try:
        yield
    finally:
        del options["prepared_statements"]


async def server_statements() -> list[str]:
    """The prepared statements of the task's connection, from the server."""
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in await cursor.fetchall()]


@pytest.mark.async_django_db
async def test_prepared_querysets_prepare_their_statement_once() -> None:
    herge = await Author.objects.acreate(name="Hergé")
    by_name = prepare(Author.objects.filter(name=Param("name")))
    for _ in range(3):
        assert (await by_name.aget(name="Hergé")).pk == herge.pk
    await Author.objects.aget(name="Hergé")  # Django's own: bound on the client
    await Author.objects.filter(name="Hergé").acount()
    (statement,) = await server_statements()
    assert statement.startswith('SELECT "app_author"."id"')
    assert '"app_author"."name" = $1' in statement


@pytest.mark.async_django_db
async def test_the_option_off_binds_on_the_client() -> None:
    await Author.objects.acreate(name="Hergé")
    with option(False):
        by_name = prepare(Author.objects.filter(name=Param("name")))
        for _ in range(3):
            assert await by_name.acount(name="Hergé") == 1
    assert await server_statements() == []


@pytest.mark.async_django_db
async def test_group_by_binds_on_the_client() -> None:
    # Bound on the server, a parameter in SELECT and GROUP BY is two
    # parameters, which the server can't match (Django #34255).
    herge = await Author.objects.acreate(name="Hergé")
    await Book.objects.acreate(title="Tintin", pages=62, author=herge)
    counts = prepare(
        Author.objects.annotate(n=Count("books")).filter(n__gte=Param("n"))
    )
    assert [(a.name, a.n) async for a in counts.aiterate(n=1)] == [("Hergé", 1)]
    assert [a async for a in counts.aiterate(n=2)] == []
    assert await server_statements() == []


def test_sync_connections_prepare_too(async_django_db_setup: None) -> None:
    try:
        with transaction.atomic():
            Author.objects.create(name="Jacobs")
            by_name = prepare(Author.objects.filter(name=Param("name")))
            assert by_name.count(name="Jacobs") == by_name.count(name="x") + 1
            with connection.cursor() as cursor:
                cursor.execute("SELECT statement FROM pg_prepared_statements")
                (statement,) = cursor.fetchall()
            assert "COUNT(*)" in statement[0]
            transaction.set_rollback(True)
    finally:
        connections.close_all()


def test_the_option_is_checked() -> None:
    assert prepared_statements.enabled({"OPTIONS": {}}) is True
    assert (
        prepared_statements.enabled({"OPTIONS": {"prepared_statements": False}})
        is False
    )
    with pytest.raises(
        ImproperlyConfigured,
        match=r"\['OPTIONS'\]\['prepared_statements'\] must be True or False, not 'no'",
    ):
        prepared_statements.enabled({"OPTIONS": {"prepared_statements": "no"}})


def test_the_option_is_not_passed_to_psycopg() -> None:
    with option(False):
        params = connections["default"].get_connection_params()
    assert "prepared_statements" not in params
