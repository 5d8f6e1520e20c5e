"""The Hrana client: v2 fallback, one request at a time per stream, no
stream held in autocommit."""

from __future__ import annotations

import asyncio

from django_async_backend.db.backends.libsql.remote.client import AsyncClient, Client

from .helpers import libsql_suite, settings_for

pytestmark = libsql_suite


def test_v2_pipeline_transactions(server):
    client = Client(settings_for(server.url))
    client.version = 2  # as against a server without /v3
    try:
        client.execute("CREATE TABLE v2 (v)")
        client.execute("BEGIN IMMEDIATE")
        assert client.holding
        client.execute("INSERT INTO v2 VALUES (1)")
        client.rollback()
        assert not client.in_transaction
        client.execute("BEGIN IMMEDIATE")
        client.execute("INSERT INTO v2 VALUES (2)")
        client.commit()
        assert client.execute("SELECT v FROM v2").rows == [(2,)]
        assert client._path() == "/v2/pipeline"
    finally:
        client.close()


def test_autocommit_holds_no_stream(server):
    client = Client(settings_for(server.url))
    try:
        client.execute("SELECT 1")
        assert client.baton is None and not client.holding
        client.execute("BEGIN")
        assert client.baton is not None and client.holding
        client.execute("COMMIT")
        assert client.baton is None and not client.holding
        client.execute("SAVEPOINT s")  # opens a transaction outside one
        assert client.holding
        client.execute("RELEASE s")  # and its release ends it
        assert client.baton is None and not client.holding
    finally:
        client.close()


def test_concurrent_calls_on_one_stream_take_turns(server):
    async def main():
        client = AsyncClient(settings_for(server.url))
        try:
            await client.execute("CREATE TABLE turns (v)")
            await client.execute("BEGIN IMMEDIATE")
            # A baton is single-use: overlapping requests would get HTTP 400.
            await asyncio.gather(
                *(
                    client.execute("INSERT INTO turns VALUES (?)", [i])
                    for i in range(20)
                )
            )
            await client.commit()
            return (await client.execute("SELECT count(*) FROM turns")).rows
        finally:
            await client.close()

    assert asyncio.run(main()) == [(20,)]
