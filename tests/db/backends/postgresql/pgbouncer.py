"""A real PgBouncer in transaction mode, on a spare port, for the tests.

:class:`PgBouncer` starts Debian's ``pgbouncer`` (``scripts/lib.sh``
installs it when missing) in front of a PostgreSQL server: every database
name is forwarded, clients are trusted (the server behind trusts loopback
connections already), and ``pool_mode = transaction``, where a server
connection belongs to a client only for the length of one transaction.

``python -m tests.db.backends.postgresql.pgbouncer [pytest arguments]`` runs
pytest with the test databases reached through one (``scripts/test`` does,
as its PgBouncer stage): ``PGHOST``/``PGPORT`` point at PgBouncer and
``DAB_TEST_PGBOUNCER=transaction`` makes ``tests/settings.py`` apply the
settings the README documents for it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["PgBouncer", "find_pgbouncer"]


def find_pgbouncer() -> str | None:
    """The ``pgbouncer`` program, if installed (Debian: /usr/sbin)."""
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgBouncer:
    """PgBouncer in transaction mode in front of ``host:port``."""

    def __init__(
        self,
        program: str,
        *,
        host: str = "127.0.0.1",
        port: int = 5432,
        user: str = "postgres",
        pool_size: int = 20,
    ) -> None:
        self.program = program
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dab-pgbouncer-"))
        self.user = user
        self.process: subprocess.Popen[bytes] | None = None
        (self.root / "users.txt").write_text(f'"{user}" ""\n')
        config = {
            "listen_addr": "127.0.0.1",
            "listen_port": self.port,
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": self.root / "users.txt",
            "admin_users": user,
            "pool_mode": "transaction",
            "default_pool_size": pool_size,
            "max_client_conn": 1000,
            # Server connections are dropped soon after use, so that the
            # test runner can drop its databases at the end.
            "server_idle_timeout": 2,
            "ignore_startup_parameters": "extra_float_digits,options",
            "logfile": self.root / "pgbouncer.log",
            "pidfile": self.root / "pgbouncer.pid",
        }
        lines = [
            "[databases]",
            # The maintenance database, where the test runner creates and
            # drops the test databases: a server connection per client.
            f"postgres = host={host} port={port} pool_mode=session",
            f"* = host={host} port={port}",
            "",
            "[pgbouncer]",
        ]
        lines += [f"{key} = {value}" for key, value in config.items()]
        (self.root / "pgbouncer.ini").write_text("\n".join(lines) + "\n")
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            entry = pwd.getpwnam("postgres")
            for path in (self.root, *self.root.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self, timeout: float = 10.0) -> None:
        command = [self.program, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "postgres"]
        # PgBouncer logs to stderr as well as to its logfile: an unread pipe
        # fills up and blocks it mid-run, so stderr goes nowhere (the logfile
        # has it all).
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.root / "pgbouncer.log").read_text(errors="replace")
                raise RuntimeError(f"pgbouncer exited: {log[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    """Run pytest (``argv``: its arguments) through a PgBouncer."""
    program = find_pgbouncer()
    if program is None:
        print("pgbouncer is not installed (apt-get install pgbouncer)", file=sys.stderr)
        return 2
    bouncer = PgBouncer(
        program,
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=int(os.environ.get("PGPORT", "5432")),
        user=os.environ.get("PGUSER", "postgres"),
    )
    bouncer.start()
    try:
        env = dict(
            os.environ,
            PGHOST="127.0.0.1",
            PGPORT=str(bouncer.port),
            DAB_TEST_PGBOUNCER="transaction",
        )
        env.pop("DATABASE_URL", None)
        return subprocess.call([sys.executable, "-m", "pytest", *argv], env=env)
    finally:
        bouncer.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
