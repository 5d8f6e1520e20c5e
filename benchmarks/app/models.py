"""Authors, their books, and an append-only ledger the write workloads fill.

The upstream package's API is ``Model.async_objects``; its process sets
``BENCH_UPSTREAM=1`` so the same models carry its ``AsyncModelMixin``. The other
contenders get plain Django models (no import of either package here).
"""

from __future__ import annotations

import os
from typing import Any

from django.db import models

if os.environ.get("BENCH_UPSTREAM") == "1":
    from django_async_backend.db.models.base import AsyncModelMixin

    _bases: tuple[Any, ...] = (AsyncModelMixin, models.Model)
else:
    _bases = (models.Model,)


class Author(*_bases):
    name = models.CharField(max_length=100)
    entries = models.IntegerField(default=0)


class Book(*_bases):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, models.CASCADE, related_name="books")
    price = models.IntegerField()


class Entry(*_bases):
    """Written by ``create`` and ``atomic3``; never read, so reads stay stable."""

    author = models.ForeignKey(Author, models.CASCADE, related_name="ledger")
    amount = models.IntegerField()
