"""The data set every contender reads and writes, and its random parameters.

Each request draws its parameters from its worker's ``random.Random``, so all
contenders see the same distribution of rows.
"""

from __future__ import annotations

import random

AUTHORS = 500
BOOKS_PER_AUTHOR = 10
BOOKS = AUTHORS * BOOKS_PER_AUTHOR
PAGE = 20
PREFETCH_AUTHORS = 5


def book_pk(rng: random.Random) -> int:
    return rng.randint(1, BOOKS)


def author_pk(rng: random.Random) -> int:
    return rng.randint(1, AUTHORS)


def min_price(rng: random.Random) -> int:
    return rng.randint(0, 900)


def first_author(rng: random.Random) -> int:
    return rng.randint(1, AUTHORS - PREFETCH_AUTHORS + 1)


def load(using: str = "default", *, create_tables: bool = True) -> None:
    """Create the tables (unless migrate did) and rows (sync Django)."""
    from django.db import connections

    from .app.models import Author, Book, Entry

    connection = connections[using]
    if create_tables:
        with connection.schema_editor() as editor:
            for model in (Author, Book, Entry):
                editor.create_model(model)
    rng = random.Random(0)
    Author.objects.using(using).bulk_create(
        Author(id=n, name=f"author {n}") for n in range(1, AUTHORS + 1)
    )
    Book.objects.using(using).bulk_create(
        (
            Book(
                id=n,
                title=f"book {n}",
                author_id=(n - 1) // BOOKS_PER_AUTHOR + 1,
                price=rng.randint(0, 1000),
            )
            for n in range(1, BOOKS + 1)
        ),
        batch_size=1000,
    )
    with connection.cursor() as cursor:
        for model in (Author, Book, Entry):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        cursor.execute("ANALYZE")
