"""The ENGINE in sync code: a drop-in for django.db.backends.postgresql."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.backends.postgresql.base import DatabaseWrapper as StockWrapper

from django_async_backend.db.backends.postgresql.base import DatabaseWrapper
from tests.app.models import Author, Book

pytestmark = pytest.mark.requires_postgresql


def test_subclass_of_djangos_wrapper():
    assert issubclass(DatabaseWrapper, StockWrapper)
    assert DatabaseWrapper.vendor == "postgresql"


def test_sync_orm_transactions_and_migrations(async_django_db_setup):
    try:
        with transaction.atomic():
            author = Author.objects.create(name="Hergé")
            Book.objects.create(title="Tintin", author=author)
            with pytest.raises(ValueError), transaction.atomic():
                Book.objects.create(title="rolled back")
                raise ValueError
        assert list(
            Book.objects.select_related("author").values_list("title", "author__name")
        ) == [("Tintin", "Hergé")]
        out = io.StringIO()
        call_command("migrate", "--check", "--plan", stdout=out)
        call_command("check", "--database", "default", stdout=out)
        assert "No planned migration operations" in out.getvalue()
        assert connection.vendor == "postgresql"
    finally:
        Book.objects.all().delete()
        Author.objects.all().delete()
        connections.close_all()
