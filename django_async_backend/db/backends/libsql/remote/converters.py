"""Values of declared date, time and bool columns, as Django's SQLite gets them.

Django opens its ``sqlite3`` connections with ``PARSE_DECLTYPES`` and
registers converters for the declared types its fields create (``bool``,
``date``, ``time``, ``datetime``, ``timestamp``), so a raw
``cursor.execute("SELECT created FROM app_event")`` returns a ``datetime``,
not text. sqld runs no Python, but Hrana sends each result column's
``decltype``; the remote cursor converts by it with the same rule: the first
word of the declared type, case-insensitively, NULL left alone, the value
read as its text (as ``sqlite3`` hands a converter the column's bytes).
Expressions have no declared type and stay as the server returned them.

The ORM path is unchanged: Django's own ``convert_*field_value`` leave a
value that already is a ``datetime``/``date``/``time`` as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime, parse_time

__all__ = ["convert_rows", "converters_for"]

Converter = Callable[[str], Any]

_BY_TYPE: dict[str, Converter] = {
    "BOOL": "1".__eq__,
    "DATE": parse_date,
    "TIME": parse_time,
    "DATETIME": parse_datetime,
    "TIMESTAMP": parse_datetime,
}
_WORD_END = re.compile(r"[\s(]")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def converters_for(
    decltypes: Sequence[str | None],
) -> tuple[Converter | None, ...] | None:
    """Each column's converter (None: none), or None if no column has one."""
    found = tuple(
        _BY_TYPE.get(_WORD_END.split(decltype, maxsplit=1)[0].upper())
        if decltype
        else None
        for decltype in decltypes
    )
    return found if any(found) else None


def convert_rows(
    rows: list[tuple[Any, ...]], converters: Sequence[Converter | None]
) -> list[tuple[Any, ...]]:
    return [
        tuple(
            value if convert is None or value is None else convert(_text(value))
            for convert, value in zip(converters, row, strict=True)
        )
        for row in rows
    ]
