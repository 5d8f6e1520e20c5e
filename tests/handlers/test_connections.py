"""Connections across requests through Django's ASGI handler: kept for the
next request, handed to queued requests, and nothing left behind by a client
that goes away."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.db import connections
from django.test.utils import override_settings

from django_async_backend.db import async_connections
from tests.app.models import Author, Book

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]


@contextmanager
def pooled(**pool: Any) -> Iterator[None]:
    options = connections.settings["default"]["OPTIONS"]
    saved = dict(options)
    options["pool"] = {"min_size": 1, **pool}
    try:
        yield
    finally:
        options.clear()
        options.update(saved)


@pytest.fixture
def pool_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count checkouts and returns that go through psycopg_pool itself."""
    from psycopg_pool import AsyncConnectionPool

    calls: list[str] = []
    getconn, putconn = AsyncConnectionPool.getconn, AsyncConnectionPool.putconn

    async def counted_getconn(self: Any, timeout: Any = None) -> Any:
        calls.append("getconn")
        return await getconn(self, timeout)

    async def counted_putconn(self: Any, conn: Any) -> None:
        calls.append("putconn")
        await putconn(self, conn)

    monkeypatch.setattr(AsyncConnectionPool, "getconn", counted_getconn)
    monkeypatch.setattr(AsyncConnectionPool, "putconn", counted_putconn)
    return calls


async def sample() -> Book:
    author = await Author.objects.acreate(name="Verne")
    return await Book.objects.acreate(title="Nautilus", author=author)


def all_back(_: Any) -> bool:
    stats = async_connections.pool("default").get_stats()
    return stats["pool_available"] == stats["pool_size"]


async def test_a_connection_is_kept_from_one_request_to_the_next(
    browser, pool_round_trips
):
    book = await sample()
    with pooled(max_size=4):
        first = (await browser.get(f"/page/{book.pk}/")).json()["pid"]
        checkouts = len(pool_round_trips)
        for _ in range(5):
            assert (await browser.get(f"/page/{book.pk}/")).json()["pid"] == first
        # No pool round trip, no new connection: the next request got the
        # finished one's connection as it was.
        assert len(pool_round_trips) == checkouts
        await async_connections.close_pools()


async def test_queued_requests_are_handed_connections_directly(
    browser, pool_round_trips, observer
):
    book = await sample()
    with pooled(max_size=2, timeout=30):
        responses = await asyncio.gather(
            *(browser.get(f"/page/{book.pk}/") for _ in range(24))
        )
        assert [r.status_code for r in responses] == [200] * 24
        assert len({r.json()["pid"] for r in responses}) <= 2
        # Two checkouts open the connections; the rest were handed over
        # (a few scout checkouts aside), never returned through the pool.
        assert pool_round_trips.count("putconn") <= 2
        assert await observer.settle(all_back)
        await async_connections.close_pools()


async def test_an_exhausted_pool_still_fails_after_its_timeout(
    request_settings, caplog
):
    with pooled(max_size=1, timeout=0.3):
        app = ASGIHandler()
        gone = asyncio.Event()
        slow = asyncio.create_task(drive(app, "/slow/", disconnect=gone))
        await asyncio.sleep(0.2)
        status, _ = await drive(app, "/plain-db/")
        gone.set()
        await slow
        assert status == 500
        assert "couldn't get a connection after 0.30 sec" in caplog.text
        await async_connections.close_pools()


async def drive(
    app: Any, path: str, *, disconnect: asyncio.Event | None = None
) -> tuple[int | None, bytes]:
    """One GET through the ASGI app; the client goes away on ``disconnect``."""
    messages: list[dict[str, Any]] = []
    sent_body = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if disconnect is not None:
            await disconnect.wait()
        else:
            await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await asyncio.create_task(app(scope, receive, send))
    status = next((m["status"] for m in messages if "status" in m), None)
    return status, b"".join(m.get("body", b"") for m in messages)


async def busy_on_server(observer: Any) -> list[Any]:
    return [b for b in observer.busy() if "pg_stat_activity" not in b[2]]


@pytest.mark.parametrize("where", ["view", "middleware"])
async def test_a_client_that_goes_away_leaves_nothing_behind(
    request_settings, observer, where
):
    middleware = [
        *request_settings["MIDDLEWARE"],
        "tests.handlers.middleware.SlowQueryMiddleware",
    ]
    with (
        pooled(max_size=2, timeout=5),
        override_settings(
            MIDDLEWARE=middleware,
            ASYNC_BACKEND_NATIVE_CALLS=["tests.handlers.middleware"],
        ),
    ):
        app = ASGIHandler()
        gone = asyncio.Event()
        path = "/slow/" if where == "view" else "/slow-mw/"
        request = asyncio.create_task(drive(app, path, disconnect=gone))
        assert await observer.settle(
            lambda o: any("pg_sleep" in b[2] and b[1] == "active" for b in o.busy())
        )
        gone.set()
        await asyncio.wait_for(request, 10)
        # The query was cancelled, the transaction rolled back, and the
        # connection is back where it belongs.
        assert await observer.settle(
            lambda o: not any("pg_sleep" in b[2] for b in o.busy())
        )
        assert await busy_on_server(observer) == []
        assert await observer.settle(all_back)
        assert not await Author.objects.filter(name="never committed").aexists()
        await async_connections.close_pools()
