"""The request path on real ASGI servers: uvicorn with uvloop and httptools,
uvicorn with asyncio and h11, and granian's ASGI interface. Each serves the
startproject middleware stack with session auth, CSRF and transactions with
no thread hop, and closes its pools at lifespan shut-down."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User

from django_async_backend.db import async_connections
from tests.app.models import Author, Book

pytestmark = pytest.mark.async_django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.handlers.server_app:application"
SERVERS = {
    "uvicorn-uvloop-httptools": [
        "-m", "uvicorn", APP, "--loop", "uvloop", "--http", "httptools",
        "--lifespan", "on", "--no-access-log",
    ],
    "uvicorn-asyncio-h11": [
        "-m", "uvicorn", APP, "--loop", "asyncio", "--http", "h11",
        "--lifespan", "on", "--no-access-log",
    ],
    "granian": [
        "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
        "--workers", "1", "--no-ws", "--no-access-log", APP,
    ],
}  # fmt: skip


# The embedded-replica run (tests/settings.py): every process reads its own
# local replica of the primary, so another process's writes show once synced.
REPLICA = bool(os.environ.get("DAB_TEST_LIBSQL_REPLICA"))


def seed_replicas(directory: Path) -> None:
    """Copy this process's replica files of the test databases into the
    server's ``directory``, under the names its settings give them.

    A new replica's first sync replays the primary's whole log (every frame
    the suite has written: ~1 s per 1,500 frames); a copy carries the frame it
    is at, so the server's sync brings only what is newer. This process is
    between statements (no transaction, no sync running), so the database
    file, its WAL and libsql's frame index are consistent; SQLite rebuilds
    the WAL index (``-shm``) it is not given.
    """
    from django.db import connections

    from django_async_backend.db.backends.libsql.replica.creation import (
        replica_files,
    )

    for alias in connections:
        source = connections[alias].settings_dict["NAME"]  # the test database
        target = directory / os.path.basename(source)
        for path in replica_files(source):
            if path.exists() and not path.name.endswith("-shm"):
                shutil.copyfile(path, f"{target}{path.name[len(target.name):]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, name: str, tmp_path: Path) -> None:
        self.port = free_port()
        self.lifespan_log = tmp_path / f"{name}-lifespan.jsonl"
        args = [*SERVERS[name]]
        host_port = ["--host", "127.0.0.1", "--port", str(self.port)]
        args[2:2] = host_port if name != "granian" else []
        if name == "granian":
            args[-1:-1] = host_port
        env = {
            **os.environ,
            "DAB_LIFESPAN_LOG": str(self.lifespan_log),
            "DJANGO_SETTINGS_MODULE": "tests.handlers.server_settings",
            "PYTHONPATH": str(ROOT),
        }
        if REPLICA:
            # Replica files of the server's own: libsql corrupts a file two
            # processes replicate into (the suite's own directory is shared
            # when DAB_TEST_LIBSQL_REPLICA_DIR is set).
            replica_dir = tmp_path / f"{name}-replica"
            replica_dir.mkdir()
            seed_replicas(replica_dir)
            env["DAB_TEST_LIBSQL_REPLICA_DIR"] = str(replica_dir)
        self.output = tmp_path / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=self.output.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        # A new embedded replica syncs the primary's whole log at start-up
        # (server_app.py), which takes longer the more the suite has written.
        deadline = time.monotonic() + (180 if REPLICA else 30)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited:\n{self.output.read_text()}")
            try:
                httpx.get(f"{self.url}/plain/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start:\n{self.output.read_text()}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def lifespan(self) -> list[dict]:
        if not self.lifespan_log.exists():
            return []
        return [json.loads(line) for line in self.lifespan_log.read_text().splitlines()]


@pytest.mark.parametrize("name", list(SERVERS))
async def test_server_serves_the_request_path_natively(name, tmp_path):
    await User.objects.acreate_user("ada", password="secret")
    book = await Book.objects.acreate(
        title="Nautilus", author=await Author.objects.acreate(name="Verne")
    )
    server = Server(name, tmp_path)
    try:
        server.wait_ready()
        async with httpx.AsyncClient(base_url=server.url) as client:
            client.cookies.set("csrftoken", "k" * 32, domain="127.0.0.1")

            async def post(url: str, data: dict) -> httpx.Response:
                token = client.cookies.get("csrftoken", domain="127.0.0.1")
                return await client.post(
                    url, content=json.dumps(data), headers={"X-CSRFToken": token}
                )

            login = await post("/login/", {"username": "ada", "password": "secret"})
            assert login.status_code == 200, login.text
            assert (await client.get("/hops/?reset")).status_code == 200
            for n in range(5):
                page = await client.get(f"/page/{book.pk}/")
                assert page.status_code == 200, page.text
                assert page.json()["user"] == "ada"
                written = await post("/write/", {"author": f"A{n}", "title": f"T{n}"})
                assert written.status_code == 200, written.text
            hops = (await client.get("/hops/")).json()
        assert hops == {"sync_to_async": [], "threads": []}
        if REPLICA:
            # The server's writes went to the primary; this process's replica
            # reads them after a sync (its connection is kept, not stale).
            await async_connections["default"].sync()
        assert await Book.objects.acount() == 6
    finally:
        code = server.stop()
    assert code == 0, server.output.read_text()
    assert server.lifespan() == [
        {"event": "startup"},
        {"event": "shutdown", "pool_closed": True},
    ], server.output.read_text()
