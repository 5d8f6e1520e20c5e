"""Driving an ASGI application by hand, one request at a time."""

from __future__ import annotations

import asyncio
from typing import Any


def http_scope(path: str, method: str = "GET") -> dict[str, Any]:
    """The scope of a plain HTTP/1.1 request to ``testserver``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }


async def drive(
    app: Any, path: str, *, disconnect: asyncio.Event | None = None
) -> tuple[int | None, bytes]:
    """One GET through ``app``, in a task of its own (as a server runs it).

    The client stays until the response is complete, or goes away when
    ``disconnect`` is set. Returns the status and the body.
    """
    messages: list[dict[str, Any]] = []
    sent_body = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await (disconnect or finished).wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await asyncio.create_task(app(http_scope(path), receive, send))
    status = next((m["status"] for m in messages if "status" in m), None)
    return status, b"".join(m.get("body", b"") for m in messages)
