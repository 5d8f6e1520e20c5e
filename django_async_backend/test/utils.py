"""Test utilities for async connections."""

from __future__ import annotations

from typing import Any

from django.core.signals import request_started
from django.db import reset_queries

from ..db.backends.base.wrapper import AsyncDatabaseWrapper

__all__ = ["AsyncCaptureQueriesContext"]


class AsyncCaptureQueriesContext:
    """Capture the queries run on an async connection in an ``async with``.

    The async twin of Django's ``CaptureQueriesContext``::

        async with AsyncCaptureQueriesContext(async_connections["default"]) as ctx:
            await Book.objects.acount()
        assert len(ctx) == 1
    """

    def __init__(self, connection: AsyncDatabaseWrapper) -> None:
        self.connection = connection
        self.initial_queries = 0
        self.final_queries: int | None = None

    def __iter__(self) -> Any:
        return iter(self.captured_queries)

    def __getitem__(self, index: int) -> dict[str, str]:
        return self.captured_queries[index]

    def __len__(self) -> int:
        return len(self.captured_queries)

    @property
    def captured_queries(self) -> list[dict[str, str]]:
        return self.connection.queries[self.initial_queries : self.final_queries]

    async def __aenter__(self) -> AsyncCaptureQueriesContext:
        self.force_debug_cursor = self.connection.force_debug_cursor
        self.connection.force_debug_cursor = True
        # Connect first so that connection set-up queries aren't captured.
        await self.connection.ensure_connection()
        self.initial_queries = len(self.connection.queries_log)
        self.final_queries = None
        self.reset_queries_disconnected = request_started.disconnect(reset_queries)
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.connection.force_debug_cursor = self.force_debug_cursor
        if self.reset_queries_disconnected:
            request_started.connect(reset_queries)
        if exc_type is None:
            self.final_queries = len(self.connection.queries_log)
