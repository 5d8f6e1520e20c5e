"""The ASGI lifespan handler closes the event loop's connection pools.

Run in a subprocess with the example's settings: the lifespan protocol is
driven by hand, after a query has opened the pool (PostgreSQL) or a
connection (SQLite).
"""

from __future__ import annotations

import subprocess
import sys

import httpx
from conftest import EXAMPLES, running_server

SCRIPT = """
import asyncio

from library.asgi import application
from catalog.models import Book
from django_async_backend.db import async_connections


async def main():
    assert await Book.objects.acount() > 0
    wrapper = async_connections["default"].sync_wrapper
    pool = wrapper.pool if wrapper.vendor == "postgresql" else None
    assert pool is None or not pool.raw.closed
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message["type"])

    await application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"], sent
    assert pool is None or pool.raw.closed
    print("pool closed" if pool is not None else "no pool")


asyncio.run(main())
"""


def test_shutdown_closes_the_pools(database):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=EXAMPLES, env=database.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = "pool closed" if database.vendor == "postgresql" else "no pool"
    assert result.stdout.strip() == expected


def test_the_server_shuts_down_cleanly(database, tmp_path):
    log = tmp_path / "server.log"
    with running_server(database, log) as server:
        assert httpx.get(f"{server.url}/api/stats/", timeout=30).status_code == 200
    assert server.process.returncode == 0
    output = server.output()
    assert "Application shutdown complete." in output
    assert "Traceback" not in output
    assert "lifespan' protocol appears unsupported" not in output
