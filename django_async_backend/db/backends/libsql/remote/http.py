"""HTTP/1.1 keep-alive for Hrana: an async and a sync connection, one core.

Why hand-written: a Hrana request is one small JSON POST, and a round trip's
cost is mostly the client's own overhead. Measured on this machine for
``SELECT 1`` on a kept loopback connection to sqld (libsql-facts.md):
~0.45 ms on raw asyncio streams, ~0.6 ms ``http.client``, ~0.8 ms aiohttp,
~3 ms httpx's ``AsyncClient``. The protocol needed is tiny (POST with
``Content-Length``, read a ``Content-Length`` or chunked body, keep the
connection), so ~150 lines buy the fastest path with no dependency, no
thread and no TCP connection per request.

:class:`AsyncHTTPConnection` (asyncio streams) and :class:`HTTPConnection`
(a socket) are twins: same methods, same order, sharing
:func:`request_bytes` and :func:`parse_head`. Each holds one TCP (or TLS)
connection, reopened when the server closed it; a failure raises
:class:`ConnectionLost`, which says whether the request may have reached
the server (``maybe_processed``), for the client's retry decision.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

__all__ = ["AsyncHTTPConnection", "ConnectionLost", "HTTPConnection", "Response"]

USER_AGENT = "django-async-backend-libsql"


class ConnectionLost(OSError):
    """The HTTP connection failed; ``maybe_processed`` if the request was sent."""

    def __init__(self, message: str, *, maybe_processed: bool) -> None:
        super().__init__(message)
        self.maybe_processed = maybe_processed


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def request_bytes(path: str, host: str, body: bytes, token: str | None) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def parse_head(status_line: bytes, header_lines: list[bytes]) -> tuple[int, dict[str, str]]:
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ConnectionLost(f"bad HTTP status line {status_line[:80]!r}",
                             maybe_processed=True)  # fmt: skip
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def _endpoint(url: str) -> tuple[str, int, ssl.SSLContext | None]:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    host = parts.hostname or "localhost"
    return host, parts.port or (443 if tls else 80), ssl.create_default_context() if tls else None


class AsyncHTTPConnection:
    """One kept HTTP/1.1 connection on asyncio streams."""

    def __init__(self, url: str, timeout: float) -> None:
        self.host, self.port, self.ssl = _endpoint(url)
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.ssl,
                                        server_hostname=self.host if self.ssl else None),
                self.timeout,
            )  # fmt: skip
        except (OSError, TimeoutError) as exc:
            raise ConnectionLost(f"cannot connect to {self.host}:{self.port}: {exc}",
                                 maybe_processed=False) from None  # fmt: skip
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def post(self, path: str, host: str, body: bytes, token: str | None) -> Response:
        fresh = self._writer is None
        if fresh:
            await self._open()
        assert self._reader is not None and self._writer is not None
        reader, writer = self._reader, self._writer
        received = False
        try:
            writer.write(request_bytes(path, host, body, token))
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), self.timeout)
            if not status_line:
                raise ConnectionResetError("the server closed the connection")
            received = True
            lines = []
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                lines.append(line)
            status, headers = parse_head(status_line, lines)
            if "content-length" in headers:
                data = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while size := int((await reader.readline()).split(b";")[0], 16):
                    chunks.append(await reader.readexactly(size))
                    await reader.readline()
                await reader.readline()
                data = b"".join(chunks)
            else:
                data = await reader.read()
                headers["connection"] = "close"
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            await self.aclose()
            raise ConnectionLost(
                f"HTTP connection to {self.host}:{self.port} lost: {exc!r}",
                maybe_processed=received or fresh,
            ) from None
        except BaseException:  # cancelled mid-request: the connection is unusable
            await self.aclose()
            raise
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return Response(status, headers, data)

    async def aclose(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()


class HTTPConnection:
    """One kept HTTP/1.1 connection on a socket (the sync twin)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.host, self.port, self.ssl = _endpoint(url)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: Any = None

    def _open(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), self.timeout)
            if self.ssl is not None:
                sock = self.ssl.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to {self.host}:{self.port}: {exc}",
                                 maybe_processed=False) from None  # fmt: skip
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._file = sock, sock.makefile("rb")

    def post(self, path: str, host: str, body: bytes, token: str | None) -> Response:
        fresh = self._sock is None
        if fresh:
            self._open()
        assert self._sock is not None
        sock, reader = self._sock, self._file
        received = False
        try:
            sock.sendall(request_bytes(path, host, body, token))
            status_line = reader.readline()
            if not status_line:
                raise ConnectionResetError("the server closed the connection")
            received = True
            lines = []
            while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                lines.append(line)
            status, headers = parse_head(status_line, lines)
            if "content-length" in headers:
                data = _read_exactly(reader, int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while size := int(reader.readline().split(b";")[0], 16):
                    chunks.append(_read_exactly(reader, size))
                    reader.readline()
                reader.readline()
                data = b"".join(chunks)
            else:
                data = reader.read()
                headers["connection"] = "close"
        except (OSError, ValueError) as exc:
            self.close()
            raise ConnectionLost(
                f"HTTP connection to {self.host}:{self.port} lost: {exc!r}",
                maybe_processed=received or fresh,
            ) from None
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, data)

    def close(self) -> None:
        sock, self._sock, self._file = self._sock, None, None
        if sock is not None:
            sock.close()


def _read_exactly(reader: Any, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise ConnectionResetError("the server closed the connection mid-response")
    return bytes(data)
