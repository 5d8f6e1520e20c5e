"""Server-side prepared statements for prepared querysets.

Django's PostgreSQL backend binds parameters on the client (psycopg's
``ClientCursor``): every query is sent as text and parsed and planned by the
server each time. A prepared queryset runs the same SQL over and over, so it
asks for a cursor that binds on the server and prepares its statement once
per connection (psycopg keeps up to ``prepared_max`` = 100 statements per
connection, least recently used out); later executions send only the
statement's name and the parameters. Measured with ``benchmarks/percall.py``
(async calls, this project's 2-core machine), the server spends about half the
CPU per call (a primary-key ``get()``: ~90 against ~140 µs; a page of 20 rows
with a join: ~130 against ~290 µs) and the client about as much as with
client-side binding (within 10 %).

``OPTIONS["prepared_statements"]`` (default ``True``) switches it. Set it to
``False`` behind a pooler that can't keep prepared statements across
transactions (PgBouncer in transaction mode before 1.21, or without
``max_prepared_statements``): prepared querysets then bind on the client
like Django's other queries. :func:`enabled` is the one place that decides;
a setting that declares such a pooler can make its default ``False`` there.
"""

from __future__ import annotations

import sys
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "OPTION",
    "AsyncPreparingCursor",
    "PreparingCursor",
    "enabled",
    "preparing_cursor_class",
]

OPTION = "prepared_statements"

# Django opens connections with prepare_threshold=None (psycopg then prepares
# nothing, even on request). A threshold no query reaches lets the requests of
# prepared querysets through and still prepares nothing else.
_ONLY_WHEN_ASKED = sys.maxsize


class PreparingCursor(psycopg.Cursor[Any]):
    """Binds on the server and prepares each statement (sync connections)."""

    def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        prepare: bool | None = True,
        **kwargs: Any,
    ) -> Any:
        return super().execute(query, params, prepare=prepare, **kwargs)


class AsyncPreparingCursor(psycopg.AsyncCursor[Any]):
    """Binds on the server and prepares each statement (async connections)."""

    async def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        prepare: bool | None = True,
        **kwargs: Any,
    ) -> Any:
        return await super().execute(query, params, prepare=prepare, **kwargs)


def enabled(settings_dict: dict[str, Any]) -> bool:
    """Whether prepared querysets on this alias use prepared statements."""
    value = settings_dict["OPTIONS"].get(OPTION, True)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(
            f"DATABASES[...]['OPTIONS'][{OPTION!r}] must be True or False, not "
            f"{value!r} (False behind a pooler in transaction mode that can't "
            f"keep prepared statements)."
        )
    return value


def preparing_cursor_class(raw: Any) -> type[Any]:
    """The cursor class for ``raw`` (a psycopg connection, sync or async),
    which is made to accept prepare requests."""
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    if isinstance(raw, psycopg.AsyncConnection):
        return AsyncPreparingCursor
    return PreparingCursor
