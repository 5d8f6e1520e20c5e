"""The request path on real ASGI servers: uvicorn with uvloop and httptools,
uvicorn with asyncio and h11, and granian's ASGI interface. Each serves the
startproject middleware stack with session auth, CSRF and transactions with
no thread hop, and closes its pools at lifespan shut-down."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User

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
        deadline = time.monotonic() + 30
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
        assert await Book.objects.acount() == 6
    finally:
        code = server.stop()
    assert code == 0, server.output.read_text()
    assert server.lifespan() == [
        {"event": "startup"},
        {"event": "shutdown", "pool_closed": True},
    ], server.output.read_text()
