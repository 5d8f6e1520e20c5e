"""Private PostgreSQL clusters for fault and replication tests.

Tests that stop and restart the server, or that need more connections than a
shared server allows, must never touch the shared server. This starts a
throw-away cluster with ``initdb``/``pg_ctl`` on a spare port and a socket in a
temporary directory, owned by the ``postgres`` OS user when the tests run as
root (``initdb`` refuses to run as root). :meth:`PrivateCluster.replica`
makes a streaming replica of one with ``pg_basebackup``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["PrivateCluster", "find_bindir"]


def find_bindir() -> str | None:
    """The directory of the newest installed ``initdb``/``pg_ctl``, if any."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return os.path.dirname(on_path)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(path.split("/")[-3])
        if path.split("/")[-3].isdigit()
        else 0,
    )
    return os.path.dirname(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateCluster:
    """initdb + pg_ctl on a spare port; ``stop()``/``start()`` on demand."""

    def __init__(
        self,
        bindir: str,
        *,
        max_connections: int = 250,
        primary: PrivateCluster | None = None,
    ) -> None:
        # The directory initdb really lives in, with pg_basebackup beside it
        # (/usr/local/bin may link only initdb and pg_ctl).
        self.bindir = os.path.dirname(os.path.realpath(os.path.join(bindir, "initdb")))
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dab-cluster-"))
        self.datadir = self.root / "data"
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        if primary is None:
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            )
        else:
            # A streaming replica: a base backup of the running primary, with
            # standby.signal and primary_conninfo written by -R.
            self._run(
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.datadir),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            )
        options = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": str(max_connections),
            "fsync": "off",
            "shared_buffers": "16MB",
        }
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in options.items())

    def _run(self, program: str, *args: str) -> None:
        command = [os.path.join(self.bindir, program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def replica(self) -> PrivateCluster:
        """A streaming replica of this (running) cluster, on its own port."""
        return PrivateCluster(self.bindir, primary=self)

    def connect_kwargs(self, dbname: str = "postgres") -> dict[str, Any]:
        """``psycopg.connect()`` arguments for a plain connection to it."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "postgres",
            "dbname": dbname,
            "autocommit": True,
        }

    def database_settings(self, name: str = "postgres", **extra: Any) -> dict[str, Any]:
        """A DATABASES entry for this cluster (on our ENGINE)."""
        return {
            "ENGINE": "django_async_backend.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            **extra,
        }
