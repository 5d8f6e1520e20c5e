"""Figures sampled during a run: the process's memory and its connections."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import psycopg

__all__ = ["Sampler", "rss_mib", "server_connections", "sqlite_connections"]


def rss_mib() -> float:
    """This process's resident set size, in MiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def server_connections(cluster: Any, dbname: str) -> int:
    """Client backends connected to ``dbname``, from a connection of its own."""
    admin = await psycopg.AsyncConnection.connect(**cluster.connect_kwargs())
    async with admin:
        cursor = await admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            [dbname],
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


def sqlite_connections(path: str) -> int:
    """Open SQLite connections on ``path``: connection threads alive, or
    descriptors of its files held open (a connection sqlite3 could not close
    keeps them after its thread is gone)."""
    threads = sum(
        t.name.startswith("django_async_backend.sqlite3:") and t.is_alive()
        for t in threading.enumerate()
    )
    base = os.path.realpath(path)
    files = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        files += target in (base, f"{base}-wal", f"{base}-shm", f"{base}-journal")
    return max(threads, files)


class Sampler:
    """Samples RSS and a connection count every ``every`` seconds."""

    def __init__(self, count: Any, every: float) -> None:
        self.count = count  # async () -> int
        self.every = every
        self.samples: list[tuple[float, float, int]] = []  # (t, rss, conns)

    async def run(self, stop: asyncio.Event) -> None:
        start = time.monotonic()
        while not stop.is_set():
            try:
                connections = await self.count()
            except psycopg.Error:
                connections = -1
            self.samples.append((time.monotonic() - start, rss_mib(), connections))
            try:
                await asyncio.wait_for(stop.wait(), self.every)
            except TimeoutError:
                pass
