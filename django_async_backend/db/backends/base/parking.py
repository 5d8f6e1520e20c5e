"""Persistent async connections (``CONN_MAX_AGE`` without a pool).

Django keeps a persistent connection per thread and reuses it for the next
request until it is ``CONN_MAX_AGE`` seconds old. Async connections belong to
tasks, which end with their request, so the equivalent is to *park* a
finished task's healthy connection and hand it to the next task of the same
event loop, with its original expiry. ``CONN_HEALTH_CHECKS`` checks a parked
connection before it is handed out, as Django checks a reused one at the
start of a request.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from ...bridge import await_only, start_eagerly
from ...loop_shutdown import on_loop_shutdown

__all__ = ["ParkingMixin", "close_parked"]

_parked: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, list[tuple[Any, float | None]]]
] = weakref.WeakKeyDictionary()


async def close_parked() -> None:
    """Close the running loop's parked connections."""
    by_alias = _parked.pop(asyncio.get_running_loop(), {})
    for parked in by_alias.values():
        for raw, _ in parked:
            await raw.close()


def _expired(close_at: float | None) -> bool:
    return close_at is not None and time.monotonic() >= close_at


class ParkingMixin:
    """Park and reuse raw async connections between tasks of one loop."""

    alias: str
    settings_dict: dict[str, Any]
    close_at: float | None

    def _park(self, raw: Any) -> None:
        loop = asyncio.get_running_loop()
        by_alias = _parked.get(loop)
        if by_alias is None:
            by_alias = _parked[loop] = {}
            on_loop_shutdown(close_parked)
        parked = by_alias.setdefault(self.alias, [])
        # Drop expired connections while we are here.
        for entry in [e for e in parked if _expired(e[1])]:
            parked.remove(entry)
            start_eagerly(entry[0].close())
        parked.append((raw, self.close_at))

    async def _check_parked(self, raw: Any, *, query: bool) -> bool:
        """Whether a parked connection is still good (``query``: run one)."""
        raise NotImplementedError

    def _take_parked_connection(self) -> Any:
        """A parked connection for this alias, or None. Runs in the bridge."""
        parked = _parked.get(asyncio.get_running_loop(), {}).get(self.alias)
        while parked:
            raw, close_at = parked.pop()
            if _expired(close_at) or raw.closed:
                await_only(raw.close())
                continue
            checks = self.settings_dict["CONN_HEALTH_CHECKS"]
            if not await_only(self._check_parked(raw, query=checks)):
                await_only(raw.close())
                continue
            self.close_at = close_at
            return raw
        return None
