"""The ASGI application of the async contenders (uvicorn, granian).

With ``BENCH_COUNT_HOPS=1`` it counts ``asgiref`` ``SyncToAsync`` calls (the
thread hops) from start-up; ``/hops/`` returns and resets the count. Only the
untimed hop-counting run sets it.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.e2e.settings")


class HopCounter:
    """Counts SyncToAsync calls (each is a thread hop)."""

    def __init__(self) -> None:
        from asgiref import sync

        self.count = 0
        original = sync.SyncToAsync.__call__
        counter = self

        async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return await original(self, *args, **kwargs)

        sync.SyncToAsync.__call__ = counted  # type: ignore[method-assign]

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


hop_counter = HopCounter() if os.environ.get("BENCH_COUNT_HOPS") == "1" else None

if os.environ.get("BENCH_E2E_CONTENDER", "ours") == "ours":
    from django_async_backend.handlers.asgi import get_asgi_application
else:
    from django.core.asgi import get_asgi_application

application = get_asgi_application()
