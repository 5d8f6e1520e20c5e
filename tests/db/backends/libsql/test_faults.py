"""Faults: auth failures, stream expiry, lock steal, server restart.

Each either works transparently (autocommit, nothing could have run) or
raises ``OperationalError`` and leaves nothing half-done: never a silent
loss, never a statement run outside the transaction the caller believes
open.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from django.db import OperationalError, connections, transaction

from django_async_backend.db.backends.libsql.remote import client as client_module
from django_async_backend.db.backends.libsql.remote.client import AsyncClient, Client

from .helpers import libsql_suite, settings_for, sync_wrapper

pytestmark = libsql_suite


def count(server, table):
    client = Client(settings_for(server.url))
    try:
        return client.execute(f"SELECT count(*) FROM {table}").rows[0][0]
    finally:
        client.close()


# -- auth ---------------------------------------------------------------------


def test_missing_token_is_401_without_the_token(auth_server):
    client = Client(settings_for(auth_server.url))
    with pytest.raises(sqlite3.OperationalError, match="authentication failed.*401"):
        client.execute("SELECT 1")
    client.close()


def test_invalid_token_is_not_shown(auth_server):
    token = auth_server.make_token()
    forged = token[:-8] + ("A" * 8 if not token.endswith("A" * 8) else "B" * 8)
    conn = sync_wrapper(auth_server.libsql_url, AUTH_TOKEN=forged)
    with pytest.raises(OperationalError) as caught:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    conn.close()
    message = str(caught.value)
    assert "authentication failed" in message and "401" in message
    assert forged not in message and forged[-20:] not in message


def test_read_only_token_reads_and_a_write_is_403(auth_server):
    writer = Client(settings_for(auth_server.url, AUTH_TOKEN=auth_server.make_token()))
    writer.execute("CREATE TABLE IF NOT EXISTS ro (v)")
    writer.close()
    token = auth_server.make_token(read_only=True)
    reader = Client(settings_for(auth_server.url, AUTH_TOKEN=token))
    try:
        assert reader.execute("SELECT count(*) FROM ro").rows == [(0,)]
        with pytest.raises(sqlite3.OperationalError, match="403") as caught:
            reader.execute("INSERT INTO ro VALUES (1)")
        assert token not in str(caught.value)
    finally:
        reader.close()


# -- stream expiry (streams expire after 10 s idle) -------------------------------


def _idle_transaction_sync(server, table, idle):
    client = Client(settings_for(server.url))
    try:
        client.execute(f"CREATE TABLE {table} (v)")
        client.execute("BEGIN IMMEDIATE")
        client.execute(f"INSERT INTO {table} VALUES (1)")
        time.sleep(idle)
        client.execute(f"INSERT INTO {table} VALUES (2)")
        client.commit()
    finally:
        client.close()


def test_pings_keep_an_idle_transaction_alive_sync(server):
    _idle_transaction_sync(server, "idle_sync", 11.5)
    assert count(server, "idle_sync") == 2


def test_without_pings_the_expired_transaction_raises(server, monkeypatch):
    monkeypatch.setattr(client_module, "PING_INTERVAL", 3600.0)
    with pytest.raises(sqlite3.OperationalError, match="lost"):
        _idle_transaction_sync(server, "idle_expired", 11.5)
    assert count(server, "idle_expired") == 0


def test_pings_keep_an_idle_transaction_alive_async(server):
    async def main():
        client = AsyncClient(settings_for(server.url))
        try:
            await client.execute("CREATE TABLE idle_async (v)")
            await client.execute("BEGIN IMMEDIATE")
            await client.execute("INSERT INTO idle_async VALUES (1)")
            await asyncio.sleep(11.5)
            await client.execute("INSERT INTO idle_async VALUES (2)")
            await client.commit()
        finally:
            await client.close()

    asyncio.run(main())
    assert count(server, "idle_async") == 2


# -- lock steal ---------------------------------------------------------------------


def test_lock_steal_raises_and_the_block_is_rolled_back(server):
    holder = Client(settings_for(server.url))
    holder.execute("CREATE TABLE steal (v)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO steal VALUES ('holder')")
    waiter_done = threading.Event()

    def waiter():
        client = Client(settings_for(server.url, OPTIONS={"timeout": 30}))
        try:
            client.execute("BEGIN IMMEDIATE")
            client.execute("INSERT INTO steal VALUES ('waiter')")
            client.commit()
        finally:
            client.close()
            waiter_done.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert waiter_done.wait(30), "the waiter never got the lock"
    thread.join()
    # The server rolled the holder's transaction back to let the waiter in.
    with pytest.raises(sqlite3.OperationalError):
        holder.execute("INSERT INTO steal VALUES ('holder again')")
    # Until rollback, nothing runs outside the transaction the caller believes open.
    with pytest.raises(sqlite3.OperationalError, match="lost"):
        holder.execute("SELECT 1")
    holder.rollback()
    assert holder.execute("SELECT v FROM steal").rows == [("waiter",)]
    holder.close()


# -- server restart -------------------------------------------------------------------


def test_restart_mid_load_loses_nothing_silently(own_server):
    client = Client(settings_for(own_server.url, OPTIONS={"timeout": 20}))
    client.execute("CREATE TABLE load (v INTEGER PRIMARY KEY)")
    done: list[int] = []
    uncertain: list[int] = []
    unexpected: list[BaseException] = []
    stop = threading.Event()

    def load():
        i = 0
        while not stop.is_set():
            try:
                client.execute("INSERT INTO load VALUES (?)", [i])
                done.append(i)
            except sqlite3.OperationalError as exc:
                if "may or may not" not in str(exc):
                    unexpected.append(exc)
                    return
                uncertain.append(i)
            except BaseException as exc:
                unexpected.append(exc)
                return
            i += 1

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(0.3)
    own_server.restart(down_for=0.5)
    time.sleep(0.3)
    stop.set()
    thread.join(30)
    assert unexpected == []  # a restart is retried through, not an error
    rows = {v for (v,) in client.execute("SELECT v FROM load").rows}
    client.close()
    assert set(done) <= rows  # every acknowledged write is there
    assert rows <= set(done) | set(uncertain)  # and nothing else
    assert len(done) > 10  # writes went through before and after the restart
    assert max(done) > max(uncertain, default=0)


def test_restart_during_a_transaction_raises_then_recovers(own_server):
    conn = sync_wrapper(own_server.libsql_url)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE tx_restart (v)")
    conn.set_autocommit(False)
    with conn.cursor() as cursor:
        cursor.execute("INSERT INTO tx_restart VALUES (1)")
    own_server.restart()
    with pytest.raises(OperationalError), conn.cursor() as cursor:
        cursor.execute("INSERT INTO tx_restart VALUES (2)")
    with pytest.raises(OperationalError):
        conn.commit()  # the loss is never turned into a "successful" commit
    conn.rollback()
    conn.set_autocommit(True)
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tx_restart")
        assert cursor.fetchone() == (0,)
    conn.close()


def test_lock_steal_inside_atomic_raises_and_the_block_rolls_back(server):
    conn = sync_wrapper(server.libsql_url)
    connections.settings["libsql"] = conn.settings_dict
    connections["libsql"] = conn
    try:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE steal_atomic (v)")
        waiter = threading.Thread(target=_write_when_the_lock_frees, args=(server,))
        with pytest.raises(OperationalError), transaction.atomic(using="libsql"):
            with conn.cursor() as cursor:
                cursor.execute("INSERT INTO steal_atomic VALUES ('holder')")
            waiter.start()
            waiter.join(30)
            with conn.cursor() as cursor:  # the server took the lock away
                cursor.execute("INSERT INTO steal_atomic VALUES ('holder again')")
        with conn.cursor() as cursor:  # usable again, in autocommit
            cursor.execute("SELECT v FROM steal_atomic")
            assert cursor.fetchall() == [("waiter",)]
    finally:
        conn.close()
        del connections["libsql"]
        del connections.settings["libsql"]


def _write_when_the_lock_frees(server):
    client = Client(settings_for(server.url, OPTIONS={"timeout": 30}))
    try:
        client.execute("BEGIN IMMEDIATE")
        client.execute("INSERT INTO steal_atomic VALUES ('waiter')")
        client.commit()
    finally:
        client.close()
