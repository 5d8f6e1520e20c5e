"""CPU per call: prepared querysets against plain ones and bare psycopg.

    BENCH_DB=dab_bench_dev python -m benchmarks.percall [--calls 3000] [--rounds 3]

(the database must hold the benchmark's data: ``python -m benchmarks.cell
--prepare``; ``benchmarks.run`` runs this after the matrix.) One task makes
the calls one after the other, so what is measured is the cost of a call, not
waiting: for each variant, the client's CPU time per call (process CPU time
over the calls) and the server's (the CPU time of the connection's backend
process, from ``/proc/<pid>/schedstat``; PostgreSQL on this host). The
variants alternate within each round; the report takes the median of the
rounds. Variants, per workload (``pk_get``: a book by primary key; ``page``:
20 books with their authors):

* ``plain``: Django's a-method on our ENGINE, natively (``Book.objects.aget``);
* ``prepared``: the same queryset prepared (server-side prepared statements,
  the default on PostgreSQL);
* ``prepared_client``: prepared, bound on the client
  (``OPTIONS["prepared_statements"] = False``);
* ``bare``: the same SQL on a psycopg ``AsyncConnection`` with psycopg's
  defaults (server-side binding, prepared after 5 executions);
* ``bare_client``: the same SQL with psycopg's ``AsyncClientCursor`` (how
  Django binds).

JSON lines out, one per variant and round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from . import data
from .contenders import setup_django

VARIANTS = ("plain", "prepared", "prepared_client", "bare", "bare_client")
WORKLOADS = ("pk_get", "page")

Call = Callable[[random.Random], Awaitable[Any]]


def server_cpu_ns(pid: int | None) -> int | None:
    """CPU time (ns) of a local process so far, or None if it can't be read."""
    if pid is None:
        return None
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


async def _ours(alias: str) -> dict[str, tuple[Call, Callable[[], int | None]]]:
    from django_async_backend.db import async_connections
    from django_async_backend.models import Param, prepare

    from .app.models import Book

    books = Book.objects.using(alias)
    by_pk = prepare(books.filter(pk=Param("pk")))
    page = prepare(
        books.select_related("author")
        .filter(price__gte=Param("price"))
        .order_by("id")[: data.PAGE]
    )

    def pid() -> int | None:
        raw = async_connections[alias].connection
        return raw.info.backend_pid if raw is not None else None

    async def plain_pk(rng: random.Random) -> Any:
        return await books.aget(pk=data.book_pk(rng))

    async def plain_page(rng: random.Random) -> Any:
        query = books.select_related("author").filter(price__gte=data.min_price(rng))
        return [b async for b in query.order_by("id")[: data.PAGE]]

    async def prepared_pk(rng: random.Random) -> Any:
        return await by_pk.aget(pk=data.book_pk(rng))

    async def prepared_page(rng: random.Random) -> Any:
        return [b async for b in page.aiterate(price=data.min_price(rng))]

    return {
        "plain:pk_get": (plain_pk, pid),
        "plain:page": (plain_page, pid),
        "prepared:pk_get": (prepared_pk, pid),
        "prepared:page": (prepared_page, pid),
    }


async def _bare(client_binding: bool) -> tuple[Any, dict[str, Call]]:
    import psycopg

    from .settings import DATABASES
    from .workloads import SQL_PAGE, SQL_PK_GET

    db = DATABASES["default"]
    kwargs: dict[str, Any] = {
        "host": db["HOST"],
        "port": db["PORT"],
        "dbname": db["NAME"],
        "user": db["USER"],
        "autocommit": True,
    }
    if db["PASSWORD"]:
        kwargs["password"] = db["PASSWORD"]
    if client_binding:
        kwargs["cursor_factory"] = psycopg.AsyncClientCursor
    conn = await psycopg.AsyncConnection.connect(**kwargs)

    async def pk_get(rng: random.Random) -> Any:
        cursor = await conn.execute(SQL_PK_GET, (data.book_pk(rng),))
        return await cursor.fetchall()

    async def page(rng: random.Random) -> Any:
        cursor = await conn.execute(SQL_PAGE, (data.min_price(rng),))
        return await cursor.fetchall()

    return conn, {"pk_get": pk_get, "page": page}


async def measure(
    call: Call, pid: Callable[[], int | None], calls: int, seed: int
) -> tuple[float, float | None]:
    """(client µs, server µs) per call, after a warm-up."""
    rng = random.Random(seed)
    for _ in range(max(50, calls // 10)):
        await call(rng)
    backend = pid()
    server_start = server_cpu_ns(backend)
    client_start = time.process_time()
    for _ in range(calls):
        await call(rng)
    client = (time.process_time() - client_start) / calls * 1e6
    server_end = server_cpu_ns(backend)
    if server_start is None or server_end is None:
        return client, None
    return client, (server_end - server_start) / calls / 1e3


async def run_rounds(calls: int, rounds: int) -> list[dict[str, Any]]:
    from django_async_backend.db import async_connections

    ours = await _ours("default")
    client_side = await _ours("client_binding")
    bare, bare_calls = await _bare(client_binding=False)
    bare_client, bare_client_calls = await _bare(client_binding=True)
    variants: dict[tuple[str, str], tuple[Call, Callable[[], int | None]]] = {}
    for workload in WORKLOADS:
        variants["plain", workload] = ours[f"plain:{workload}"]
        variants["prepared", workload] = ours[f"prepared:{workload}"]
        variants["prepared_client", workload] = client_side[f"prepared:{workload}"]
        variants["bare", workload] = (
            bare_calls[workload],
            lambda: bare.info.backend_pid,
        )
        variants["bare_client", workload] = (
            bare_client_calls[workload],
            lambda: bare_client.info.backend_pid,
        )
    rows = []
    try:
        for round_ in range(rounds):
            for workload in WORKLOADS:
                for variant in VARIANTS:
                    call, pid = variants[variant, workload]
                    client, server = await measure(call, pid, calls, seed=round_)
                    row = {
                        "workload": workload,
                        "variant": variant,
                        "round": round_,
                        "calls": calls,
                        "client_us": round(client, 2),
                        "server_us": None if server is None else round(server, 2),
                    }
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    finally:
        await bare.close()
        await bare_client.close()
        await async_connections.close_pools()
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.percall", description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    setup_django("prepared")
    asyncio.run(run_rounds(args.calls, args.rounds))


if __name__ == "__main__":
    main(sys.argv[1:])
