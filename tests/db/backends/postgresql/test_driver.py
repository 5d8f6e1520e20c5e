"""driver.py's check for idle connections the server has closed.

The server writes its FATAL goodbye and then closes the socket; a client may
see the goodbye before the end of the stream. A proxy that forwards the
server's bytes but holds back its end of stream makes that window as wide as
the test needs, so the check cannot rely on seeing the socket close.
"""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from django.db import connections

from django_async_backend.db import async_connections
from django_async_backend.db.backends.postgresql.driver import (
    server_closed,
    watch_for_goodbye,
)
from tests.conftest import admin_connection

pytestmark = [pytest.mark.requires_postgresql]


class EndHoldingProxy:
    """TCP proxy to the server that never passes on the server's end of stream."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server_ended = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.accept, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.host.startswith("/"):
            path = os.path.join(self.host, f".s.PGSQL.{self.port}")
            return await asyncio.open_unix_connection(path)
        return await asyncio.open_connection(self.host, self.port)

    async def accept(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await self.upstream()
        self.writers += [client_out, server_out]

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, end: bool
        ) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            if end:
                sink.close()
            else:
                self.server_ended.set()  # and keep the client's socket open

        for task in (
            asyncio.create_task(pump(client_in, server_out, end=True)),
            asyncio.create_task(pump(server_in, client_out, end=False)),
        ):
            self.tasks.add(task)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for writer in self.writers:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@asynccontextmanager
async def proxied() -> (
    AsyncIterator[tuple[psycopg.AsyncConnection[Any], EndHoldingProxy]]
):
    with admin_connection() as admin:
        info = admin.info
        host, port, user, password = info.host, info.port, info.user, info.password
    proxy = EndHoldingProxy(host, port)
    proxy_port = await proxy.start()
    raw = await psycopg.AsyncConnection.connect(
        host="127.0.0.1",
        port=proxy_port,
        dbname="postgres",
        user=user,
        password=password or None,
        autocommit=True,
    )
    watch_for_goodbye(raw)
    try:
        yield raw, proxy
    finally:
        await raw.close()
        await proxy.close()


async def goodbye_arrived(
    raw: psycopg.AsyncConnection[Any], proxy: EndHoldingProxy
) -> None:
    """Wait until the server's goodbye is on the client's socket.

    The server has ended its side; the proxy never passes that on, so the
    socket stays open with only the goodbye to read.
    """
    await asyncio.wait_for(proxy.server_ended.wait(), 10)
    poller = select.poll()
    poller.register(raw.pgconn.socket, select.POLLIN)
    for _ in range(100):
        if poller.poll(0):
            return
        await asyncio.sleep(0.01)


def test_open_idle_connection_is_not_closed():
    asyncio.run(open_idle_connection_is_not_closed())


async def open_idle_connection_is_not_closed() -> None:
    async with proxied() as (raw, _):
        await raw.execute("SELECT 1")
        assert not server_closed(raw)


def test_goodbye_before_end_of_stream_counts_as_closed():
    asyncio.run(goodbye_before_end_of_stream_counts_as_closed())


async def goodbye_before_end_of_stream_counts_as_closed() -> None:
    async with proxied() as (raw, proxy):
        row = await (await raw.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        pid = row[0]
        with admin_connection() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        await goodbye_arrived(raw, proxy)
        assert server_closed(raw)


def test_engine_connections_watch_for_the_goodbye():
    """Persistent (unpooled) connections wait between tasks too."""
    asyncio.run(engine_connections_watch_for_the_goodbye())


async def engine_connections_watch_for_the_goodbye() -> None:
    with admin_connection() as admin:
        info = admin.info
        host, port, user, password = info.host, info.port, info.user, info.password
    proxy = EndHoldingProxy(host, port)
    proxy_port = await proxy.start()
    entry = {
        "ENGINE": "django_async_backend.db.backends.postgresql",
        "NAME": "postgres",
        "USER": user,
        "PASSWORD": password or "",
        "HOST": "127.0.0.1",
        "PORT": str(proxy_port),
    }
    connections.settings["proxied"] = connections.configure_settings(
        {"default": {}, "proxied": entry}
    )["proxied"]
    try:
        connection = async_connections["proxied"]
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT pg_backend_pid()")
            row = await cursor.fetchone()
        raw = connection.sync_wrapper.connection.raw
        with admin_connection() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [row[0]])
        await goodbye_arrived(raw, proxy)
        assert server_closed(raw)
        await connection.close()
    finally:
        del connections.settings["proxied"]
        await proxy.close()
