"""The embedded replica in sync code: Django's SQLite backend on a replica.

Each test writes through one replica and looks from another (or through raw
SQL), so what is checked is on the primary, not only in a local file.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import IntegrityError, OperationalError, connections, transaction

from django_async_backend.db.backends.libsql.replica.driver import forget_file
from tests.sqld import Sqld

from ..helpers import libsql_suite
from .conftest import replica_settings

pytestmark = libsql_suite


def run_in_thread(fn):
    """Django's sync path: a thread with no event loop."""
    result, error = [], []

    def target():
        try:
            result.append(fn())
        except BaseException as exc:  # handed back to the test
            error.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0] if result else None


def rows(alias, sql, params=None):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(alias, sql, params=None):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def test_sync_brings_rows_written_through_another_replica(replica_alias):
    a, b = replica_alias(), replica_alias()

    def main():
        execute(a, "CREATE TABLE t_sync (id INTEGER PRIMARY KEY, s TEXT)")
        execute(a, "INSERT INTO t_sync (s) VALUES (%s)", ["from a"])
        assert rows(a, "SELECT s FROM t_sync") == [("from a",)]  # read your writes
        connections[b].sync()
        assert rows(b, "SELECT s FROM t_sync") == [("from a",)]
        execute(b, "INSERT INTO t_sync (s) VALUES (%s)", ["from b"])
        assert rows(a, "SELECT count(*) FROM t_sync") == [(1,)]  # not synced yet
        connections[a].sync()
        assert rows(a, "SELECT s FROM t_sync ORDER BY id") == [("from a",), ("from b",)]

    run_in_thread(main)


def test_sync_interval_syncs_in_the_background(replica_alias):
    writer, reader = replica_alias(), replica_alias(SYNC_INTERVAL=0.2)

    def main():
        execute(writer, "CREATE TABLE t_interval (id INTEGER PRIMARY KEY)")
        rows(reader, "SELECT 1")  # open (and first sync)
        execute(writer, "INSERT INTO t_interval DEFAULT VALUES")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if rows(reader, "SELECT count(*) FROM t_interval") == [(1,)]:
                    return True
            except OperationalError:
                pass  # the table itself not synced yet
            time.sleep(0.1)
        return False

    assert run_in_thread(main)


def test_big_integers_beyond_32_bits_survive_both_ways(replica_alias):
    a, b = replica_alias(), replica_alias()
    values = [2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, -(2**63)]

    def main():
        execute(a, "CREATE TABLE t_big (id INTEGER PRIMARY KEY, v INTEGER, x)")
        for value in values:
            execute(a, "INSERT INTO t_big (v, x) VALUES (%s, %s)", [value, value])
        with connections[a].cursor() as cursor:
            cursor.executemany(
                "INSERT INTO t_big (v, x) VALUES (%s, %s)", [(v, None) for v in values]
            )
        connections[b].sync()
        got = rows(b, "SELECT v, x, typeof(v), typeof(x) FROM t_big ORDER BY id")
        assert [r[0] for r in got] == values * 2
        assert [r[1] for r in got[: len(values)]] == values
        assert {r[2] for r in got} == {"integer"}
        assert rows(b, "SELECT %s, %s", [2**53 + 1, 7]) == [(2**53 + 1, 7)]
        assert rows(b, "SELECT id FROM t_big WHERE v = %s", [2**63 - 1]) != []

    run_in_thread(main)


def test_blobs_text_floats_nulls_round_trip(replica_alias):
    a, b = replica_alias(), replica_alias()
    blob = bytes(range(256)) * 10

    def main():
        execute(a, "CREATE TABLE t_types (b BLOB, t TEXT, f REAL, n)")
        execute(
            a, "INSERT INTO t_types VALUES (%s, %s, %s, %s)",
            [memoryview(blob), "héllo ✓", 1.5, None],
        )  # fmt: skip
        connections[b].sync()
        assert rows(b, "SELECT b, t, f, n FROM t_types") == [
            (blob, "héllo ✓", 1.5, None)
        ]

    run_in_thread(main)


def test_transactions_commit_roll_back_and_savepoints(replica_alias):
    a, b = replica_alias(), replica_alias()

    def main():
        execute(a, "CREATE TABLE t_tx (id INTEGER PRIMARY KEY, s TEXT UNIQUE)")
        with transaction.atomic(using=a):
            execute(a, "INSERT INTO t_tx (s) VALUES ('kept')")
            try:
                with transaction.atomic(using=a):
                    execute(a, "INSERT INTO t_tx (s) VALUES ('savepoint')")
                    raise ValueError
            except ValueError:
                pass
            assert rows(a, "SELECT s FROM t_tx") == [("kept",)]
        try:
            with transaction.atomic(using=a):
                execute(a, "INSERT INTO t_tx (s) VALUES ('rolled back')")
                raise ValueError
        except ValueError:
            pass
        connections[b].sync()
        assert rows(b, "SELECT s FROM t_tx") == [("kept",)]

    run_in_thread(main)


def test_integrity_error_in_and_out_of_transactions(replica_alias):
    a = replica_alias()

    def main():
        execute(a, "CREATE TABLE t_ie (id INTEGER PRIMARY KEY, s TEXT UNIQUE)")
        execute(a, "INSERT INTO t_ie (s) VALUES ('x')")
        with pytest.raises(IntegrityError, match="UNIQUE"):
            execute(a, "INSERT INTO t_ie (s) VALUES ('x')")
        with transaction.atomic(using=a):
            execute(a, "INSERT INTO t_ie (s) VALUES ('y')")
            with pytest.raises(IntegrityError):
                with transaction.atomic(using=a):
                    execute(a, "INSERT INTO t_ie (s) VALUES ('x')")
        assert rows(a, "SELECT s FROM t_ie ORDER BY s") == [("x",), ("y",)]
        with pytest.raises(OperationalError, match="no such table"):
            rows(a, "SELECT * FROM nowhere")

    run_in_thread(main)


def test_primary_down_reads_work_writes_and_sync_raise(tmp_path):
    server = Sqld().start()
    try:
        settings = replica_settings(tmp_path / "down.db", server)
        connections.settings["down"] = settings

        def main():
            execute("down", "CREATE TABLE t_down (s TEXT)")
            execute("down", "INSERT INTO t_down VALUES ('before')")
            server.stop()
            assert rows("down", "SELECT s FROM t_down") == [("before",)]
            with pytest.raises(OperationalError):
                execute("down", "INSERT INTO t_down VALUES ('while down')")
            with pytest.raises(OperationalError):
                connections["down"].sync()
            # A connection opened while the primary is down reads the file.
            connections["down"].close()
            assert rows("down", "SELECT s FROM t_down") == [("before",)]
            with pytest.raises(OperationalError):
                execute("down", "INSERT INTO t_down VALUES ('while down')")
            # A process with no connection to the file yet (forget_file: as
            # a new process) opens the local file offline: reads work, writes
            # are refused up front.
            connections["down"].close()
            forget_file(settings["NAME"])
            assert rows("down", "SELECT s FROM t_down") == [("before",)]
            with pytest.raises(OperationalError, match="unreachable"):
                execute("down", "INSERT INTO t_down VALUES ('while down')")
            server.start()
            connections["down"].sync()  # reconnects to the primary
            execute("down", "INSERT INTO t_down VALUES ('via sync')")
            execute("down", "INSERT INTO t_down VALUES ('after')")
            assert rows("down", "SELECT s FROM t_down") == [
                ("before",),
                ("via sync",),
                ("after",),
            ]

        run_in_thread(main)
    finally:
        del connections.settings["down"]
        server.close()


def test_encryption_key_encrypts_the_local_file(replica_alias, tmp_path):
    plain = replica_alias()
    secret = replica_alias(ENCRYPTION_KEY="a test key")

    def main():
        execute(plain, "CREATE TABLE t_secret (s TEXT)")
        execute(plain, "INSERT INTO t_secret VALUES ('hidden')")
        connections[secret].sync()
        return rows(secret, "SELECT s FROM t_secret")

    assert run_in_thread(main) == [("hidden",)]
    path = connections.settings[secret]["NAME"]
    with open(path, "rb") as file:
        assert not file.read(16).startswith(b"SQLite format 3")
    with open(connections.settings[plain]["NAME"], "rb") as file:
        assert file.read(16).startswith(b"SQLite format 3")


def test_reconnecting_does_not_exhaust_the_primary(replica_alias):
    """libsql 0.1.8 leaves the primary-side connection of a closed replica
    connection open, and sqld refuses writes after 128 of them: the driver
    reuses its libsql connections instead of closing them."""
    a = replica_alias()

    def main():
        execute(a, "CREATE TABLE t_reconnect (i INTEGER)")
        for i in range(200):
            connections[a].close()
            execute(a, "INSERT INTO t_reconnect VALUES (%s)", [i])
        return rows(a, "SELECT count(*) FROM t_reconnect")

    assert run_in_thread(main) == [(200,)]
