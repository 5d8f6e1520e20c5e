"""One client process: one contender, one or more cells, JSON lines out.

    python -m benchmarks.cell '{"contender": "ours", "cells": [
        {"workload": "pk_get", "concurrency": 32, "warmup": 0.5, "duration": 2}]}'
    python -m benchmarks.cell --prepare     # create tables and rows (stock ORM)

The orchestrator (``benchmarks.run``) starts one per cell so that peak RSS is
the cell's own; the upstream package's runs in its own virtualenv.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from . import load
from .contenders import Contender, build, setup_django


def run_cells(contender: Contender, cells: list[dict[str, Any]]) -> None:
    async def run_async() -> None:
        try:
            for cell in cells:
                request = contender.requests[cell["workload"]]
                result = await load.run_async(
                    request, cell["concurrency"], cell["warmup"], cell["duration"]
                )
                emit(contender.name, cell, result)
        finally:
            if contender.close is not None:
                await contender.close()

    if contender.threaded:
        for cell in cells:
            request = contender.requests[cell["workload"]]
            result = load.run_threads(
                request, cell["concurrency"], cell["warmup"], cell["duration"]
            )
            emit(contender.name, cell, result)
    else:
        asyncio.run(run_async())


def emit(name: str, cell: dict[str, Any], result: load.Measurement) -> None:
    print(json.dumps({"contender": name, **cell, **result.as_dict()}), flush=True)


def orm_sql() -> dict[str, str]:
    """The SQL Django's compiler produces for the ceiling's statements."""
    from django.db import connection
    from django.db.models import F

    from .app.models import Author, Book, Entry

    def sql(queryset: Any) -> str:
        return str(queryset.query.get_compiler(using="default").as_sql()[0])

    page = Book.objects.select_related("author").filter(price__gte=0)
    authors = Author.objects.filter(id__gte=1, id__lt=6)
    compiler = connection.ops.compiler("SQLInsertCompiler")
    from django.db.models.sql import InsertQuery, UpdateQuery

    insert = InsertQuery(Entry, on_conflict=None)
    insert.insert_values(
        [Entry._meta.get_field("author"), Entry._meta.get_field("amount")],
        [Entry(author_id=1, amount=1)],
    )
    insert_compiler = compiler(insert, connection, "default")
    insert_compiler.returning_fields = [Entry._meta.pk]
    update = UpdateQuery(Author)
    update.add_update_values({"entries": F("entries") + 1})
    update.add_filter("pk", 1)
    return {
        "SQL_PK_GET": sql(Book.objects.filter(pk=1)[:21]),
        "SQL_PAGE": sql(page.order_by("id")[:20]),
        "SQL_AUTHORS": sql(authors),
        "SQL_AUTHORS_BOOKS": sql(Book.objects.filter(author_id__in=[1, 2])),
        "SQL_CREATE": insert_compiler.as_sql()[0][0],
        "SQL_BUMP": str(update.get_compiler("default").as_sql()[0]),
    }


def main(argv: list[str]) -> None:
    if argv == ["--prepare"]:
        from . import data

        setup_django("stock_sync")
        data.load()
        return
    if argv == ["--sql"]:
        setup_django("stock_sync")
        print(json.dumps(orm_sql()))
        return
    spec = json.loads(argv[0])
    run_cells(build(spec["contender"]), spec["cells"])


if __name__ == "__main__":
    main(sys.argv[1:])
