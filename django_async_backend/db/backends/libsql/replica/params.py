"""Statements and parameters as ``libsql`` 0.1.8 takes them.

Three differences from ``sqlite3`` are bridged here, on the way in:

* **Placeholders.** Django's SQLite cursor (``SQLiteCursorWrapper``, a
  ``sqlite3.Cursor`` subclass, which cannot run on a ``libsql`` connection)
  turns Django's ``%s`` into ``?``; ``libsql`` has no cursor factories, so the
  same conversion (Django's own ``FORMAT_QMARK_REGEX``) happens here. Named
  parameters (``%(name)s`` with a dict) become positional ``?``: ``libsql``
  accepts only sequences.
* **Integers beyond 32 bits.** ``libsql`` 0.1.8 binds a Python ``int``
  outside the signed 32-bit range as a REAL, so ``2**53 + 1`` is stored as
  ``9007199254740992.0``. Such a parameter is sent as its decimal ``str`` and
  its placeholder becomes ``CAST(? AS INTEGER)``, which SQLite converts
  exactly (up to 64 bits).
* **Adapters.** ``sqlite3``'s registered adapters (Django registers them for
  ``Decimal``, ``date`` and ``datetime``) are applied, as ``sqlite3`` would;
  ``memoryview``/``bytearray`` become ``bytes``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

__all__ = ["is_big", "prepare", "prepare_many"]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
CAST = "CAST(? AS INTEGER)"


def is_big(value: Any) -> bool:
    """Whether ``libsql`` would bind ``value`` wrongly (as a REAL)."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not INT32_MIN <= value <= INT32_MAX
    )


def adapt(value: Any) -> Any:
    """One parameter as ``libsql`` binds it (big integers still ``int``)."""
    if value is None or type(value) in (int, float, str, bytes, bool):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    adapter = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    if adapter is not None:
        return adapter(value)
    return value  # libsql refuses it: ProgrammingError


class _Positional(dict[str, Any]):
    """``query % this`` turns ``%(name)s`` into placeholders, in order."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__()
        self.params = params
        self.collected: list[Any] = []

    def __getitem__(self, name: str) -> str:
        value = adapt(self.params[name])
        self.collected.append(str(value) if is_big(value) else value)
        return CAST if is_big(value) else "?"


def prepare(sql: str, params: Any, *, django_style: bool) -> tuple[str, Any]:
    """``(sql, params)`` for ``libsql``'s ``execute``.

    ``django_style``: ``sql`` has Django's ``%s``/``%(name)s`` placeholders
    (a statement from Django's cursor); else ``?`` (``sqlite3``'s own).
    """
    if params is None:
        return sql, None  # as Django's cursor: no parameters, no conversion
    if isinstance(params, Mapping):
        if not django_style:
            raise sqlite3.ProgrammingError(
                "The libSQL replica driver takes named parameters only in "
                "Django's %(name)s style (through a Django cursor)."
            )
        recorder = _Positional(params)
        return sql % recorder, tuple(recorder.collected)
    values = [adapt(value) for value in params]
    big = [is_big(value) for value in values]
    if not any(big):
        return (_format_to_qmark(sql) if django_style else sql), tuple(values)
    casted = _cast_placeholders(sql, big, django_style)
    if casted is None:
        return (_format_to_qmark(sql) if django_style else sql), tuple(values)
    return casted, tuple(str(v) if b else v for v, b in zip(values, big, strict=True))


def prepare_many(
    sql: str, rows: Sequence[Any], *, django_style: bool
) -> tuple[str, list[Any]] | None:
    """``(sql, rows)`` for ``executemany``, or None: run the rows one by one.

    One statement serves every row, so a position that holds a big integer
    in any row is cast in all of them; rows whose value there is not an
    ``int`` (or None) cannot share that statement.
    """
    if not rows:
        return (_format_to_qmark(sql) if django_style else sql), []
    if any(isinstance(row, Mapping) for row in rows):
        return None
    adapted = [[adapt(value) for value in row] for row in rows]
    width = len(adapted[0])
    if any(len(row) != width for row in adapted):
        return None
    big = [any(is_big(row[i]) for row in adapted) for i in range(width)]
    if not any(big):
        return (_format_to_qmark(sql) if django_style else sql), adapted
    for row in adapted:
        for value, cast in zip(row, big, strict=True):
            if cast and value is not None and not isinstance(value, int):
                return None
    casted = _cast_placeholders(sql, big, django_style)
    if casted is None:
        return None
    rows_out = [
        tuple(
            str(v) if cast and v is not None else v
            for v, cast in zip(row, big, strict=True)
        )
        for row in adapted
    ]
    return casted, rows_out


def _format_to_qmark(sql: str) -> str:
    return FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")


def _cast_placeholders(sql: str, big: list[bool], django_style: bool) -> str | None:
    """``sql`` with the placeholders flagged in ``big`` cast; None if the
    placeholders cannot be matched to the parameters one to one."""
    pieces: list[str] | None
    if django_style:
        pieces = [piece.replace("%%", "%") for piece in FORMAT_QMARK_REGEX.split(sql)]
    else:
        pieces = _split_qmarks(sql)
    if pieces is None or len(pieces) != len(big) + 1:
        return None
    out = [pieces[0]]
    for cast, piece in zip(big, pieces[1:], strict=True):
        out.append(CAST if cast else "?")
        out.append(piece)
    return "".join(out)


def _split_qmarks(sql: str) -> list[str] | None:
    """``sql`` split at its bare ``?`` placeholders (outside literals and
    comments); None if it uses numbered or named ones."""
    pieces: list[str] = []
    start = i = 0
    n = len(sql)
    closers = {"'": "'", '"': '"', "`": "`", "[": "]"}
    while i < n:
        char = sql[i]
        if char in closers:
            end = sql.find(closers[char], i + 1)
            i = n if end < 0 else end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif char == "?":
            if i + 1 < n and sql[i + 1].isdigit():
                return None
            pieces.append(sql[start:i])
            start = i = i + 1
        elif (
            char in ":@$" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_")
        ):
            return None
        else:
            i += 1
    pieces.append(sql[start:])
    return pieces
