"""One libSQL client process: a contender's cells, JSON lines out.

    python -m benchmarks.libsql.client '{"cells": [{"workload": "pk_get",
        "concurrency": 8, "warmup": 0.5, "duration": 2}]}'
    python -m benchmarks.libsql.client --prepare     # tables and rows

``BENCH_LIBSQL_CONTENDER`` and ``BENCH_LIBSQL_URL`` say who and where
(:mod:`.settings`). The workloads and the closed-loop load are the PostgreSQL
matrix's own (``benchmarks.workloads``, ``benchmarks.load``): the same
queries, data set and measurements. ``ours_async`` runs the a-methods, each
request a task; the sync contenders run the sync ORM, a thread per client,
each request ending with ``close_old_connections`` (``request_finished``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections.abc import Callable
from typing import Any

WORKLOADS = ("pk_get", "page", "create", "atomic3")


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.libsql.settings")
    import django

    django.setup()


def prepare() -> None:
    """The data set of ``benchmarks.data`` (500 authors, 5,000 books)."""
    from django.db import connection

    from .. import data
    from ..app.models import Author, Book, Entry

    with connection.schema_editor() as editor:
        for model in (Author, Book, Entry):
            editor.create_model(model)
    rng = random.Random(0)
    Author.objects.bulk_create(
        Author(id=n, name=f"author {n}") for n in range(1, data.AUTHORS + 1)
    )
    Book.objects.bulk_create(
        (
            Book(
                id=n,
                title=f"book {n}",
                author_id=(n - 1) // data.BOOKS_PER_AUTHOR + 1,
                price=rng.randint(0, 1000),
            )
            for n in range(1, data.BOOKS + 1)
        ),
        batch_size=500,
    )
    assert Book.objects.count() == data.BOOKS


def sync_requests() -> dict[str, Callable[[random.Random], Any]]:
    from django.db import close_old_connections

    from .. import workloads

    def as_request(work: Callable[[random.Random], Any]) -> Callable[..., Any]:
        def request(rng: random.Random) -> Any:
            try:
                return work(rng)
            finally:
                close_old_connections()

        return request

    return {k: as_request(v) for k, v in workloads.orm_sync().items()}


def run_cells(threaded: bool, cells: list[dict[str, Any]]) -> None:
    from .. import load, workloads

    def emit(cell: dict[str, Any], result: load.Measurement) -> None:
        print(json.dumps({**cell, **result.as_dict()}), flush=True)

    def failed(cell: dict[str, Any], exc: BaseException) -> None:
        """A cell where every request failed: say with what, and go on."""
        cause = exc.__cause__ or exc
        text = str(cause).strip().splitlines()[0][:160] if str(cause).strip() else ""
        reason = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
        print(json.dumps({**cell, "failure": reason}), flush=True)

    if threaded:
        requests = sync_requests()
        for cell in cells:
            try:
                result = load.run_threads(
                    requests[cell["workload"]],
                    cell["concurrency"],
                    cell["warmup"],
                    cell["duration"],
                )
            except RuntimeError as exc:
                failed(cell, exc)
            else:
                emit(cell, result)
        return

    async def run_async() -> None:
        from django_async_backend.db import async_connections

        work = workloads.orm_async(native_atomic=True)
        try:
            for cell in cells:
                try:
                    result = await load.run_async(
                        work[cell["workload"]],
                        cell["concurrency"],
                        cell["warmup"],
                        cell["duration"],
                    )
                except RuntimeError as exc:
                    failed(cell, exc)
                else:
                    emit(cell, result)
        finally:
            await async_connections.close_all()

    asyncio.run(run_async())


def main(argv: list[str]) -> None:
    setup()
    if argv == ["--prepare"]:
        prepare()
        return
    from .settings import CONTENDER

    run_cells(CONTENDER.threaded, json.loads(argv[0])["cells"])


if __name__ == "__main__":
    main(sys.argv[1:])
