"""Django's SQLite operations for a server that has no Python functions.

Django's SQLite backend registers Python functions on each connection
(``django_date_extract``, ``django_format_dtdelta``, ...; see
``django/db/backends/sqlite3/_functions.py``) and emits calls to them. A
libSQL server (sqld, Turso) runs only SQL, so each method that emits one is
overridden here to emit native SQLite SQL with the same results, and the
expressions whose SQL name is a Python function are rewritten by
``compiler.py`` (set as ``compiler_module``).

Conventions of the SQL below: ``%%`` is a literal percent (Django's cursors
format the query with the parameters); a value's text is used several times,
so its SQL and parameters are repeated, keeping the parameters in order.
Fractional seconds are cut off before SQLite's date functions see a value,
because SQLite rounds them to milliseconds (``23:59:59.9999`` becomes the next
second) where Python truncates.

Limits (each tested in ``tests/db/backends/libsql/test_functions.py`` and
``test_operations.py`` against Django's own Python functions):

* Time zones: any ``zoneinfo`` zone, as a table of its UTC offsets from
  1800 to 2100 (``timezones.py``); DST rules past 2100 are not applied.
* ``__regex``/``__iregex`` run on the server's ``regexp`` (SQLite's
  ``ext/misc/regexp.c``), not Python's ``re``: no backreferences,
  lookarounds or inline flags (the server reports the pattern's error);
  ``__iregex`` is translated into case classes (``compiler.py``).
* ``MD5``, ``SHA1`` ... ``SHA512`` raise ``NotSupportedError`` when the
  query is compiled: the server has none. Django 6's bit aggregates are
  computed bit by bit (64 MIN/MAX/SUM aggregates each, ``compiler.py``).
* ``Power`` of two integers is a float (the server's ``power()``), where
  Python's ``**`` gives an int; they compare equal.
* A chain of ``DateField`` ± duration steps (each floors to whole days)
  nests one subquery per step; SQLite's parser takes about five.
  Datetime chains are flattened and have no such limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cached_property, lru_cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, OperationalError

# Through base: importing sqlite3.operations first is a circular import.
from django.db.backends.sqlite3.base import DatabaseOperations as SQLiteOperations

from .timezones import Shift, plan_shift, shifted_sql

__all__ = ["DatabaseOperations", "render"]

Params = Sequence[Any]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(template: str, **parts: tuple[str, Params]) -> tuple[str, tuple[Any, ...]]:
    """Fill ``{name}`` placeholders with SQL, repeating parameters in order.

    Each occurrence of a placeholder contributes its parameters again, so a
    value may be used several times in one expression.
    """
    params: list[Any] = []

    def substitute(match: re.Match[str]) -> str:
        sql, part_params = parts[match.group(1)]
        params.extend(part_params)
        return f"({sql})"

    return _PLACEHOLDER.sub(substitute, template), tuple(params)


def _int(sql: str) -> str:
    return f"CAST({sql} AS INTEGER)"


def fraction_us(value: str, dot: int) -> str:
    """SQL for the microseconds of a text value whose ``.`` is at ``dot``.

    Like ``typecast_time``: the digits after the dot, padded to six.
    """
    return (
        f"CASE WHEN substr({value}, {dot}, 1) = '.' THEN "
        f"CAST(substr(substr({value}, {dot + 1}) || '000000', 1, 6) AS INTEGER) "
        "ELSE 0 END"
    )


def microseconds_suffix(value: str, dot: int) -> str:
    """SQL for ``.ffffff`` when the value has non-zero microseconds, else ``''``.

    Python's ``isoformat()`` and ``str()`` omit zero microseconds.
    """
    digits = f"substr(substr({value}, {dot + 1}) || '000000', 1, 6)"
    return (
        f"CASE WHEN substr({value}, {dot}, 1) = '.' AND {digits} <> '000000' "
        f"THEN '.' || {digits} ELSE '' END"
    )


def _unsupported_lookup(lookup_type: str) -> OperationalError:
    """The error for an unknown lookup name, raised when the query compiles.

    Django's SQLite backend fails the same call at execution, as an
    ``OperationalError`` (its Python function raised ``ValueError``).
    """
    return OperationalError(f"Unsupported lookup type: {lookup_type!r}")


# Seconds from 0001-01-01 to the Unix epoch: keeps microsecond totals
# positive, so SQLite's truncating division floors.
_EPOCH_SHIFT = 62135596800


class DatabaseOperations(SQLiteOperations):
    """Django's SQLite operations, with SQL a libSQL server can run."""

    compiler_module = "django_async_backend.db.backends.libsql.compiler"

    # -- flush --------------------------------------------------------------

    def _referencing_tables(self, table_name: str) -> list[str]:
        """``table_name`` and the tables referencing it, transitively.

        Django finds them with ``REGEXP '(?i)...'`` over ``sqlite_master``;
        the server's ``regexp`` has no ``(?i)`` flag, so read the foreign
        keys themselves (``pragma_foreign_key_list``).
        """
        query = """
        WITH RECURSIVE tables(name) AS (
            SELECT %s
            UNION
            SELECT master.name
            FROM sqlite_master AS master
            JOIN tables ON master.type = 'table' AND EXISTS (
                SELECT 1 FROM pragma_foreign_key_list(master.name) AS fk
                WHERE fk."table" = tables.name COLLATE NOCASE
            )
        ) SELECT name FROM tables
        """
        with self.connection.cursor() as cursor:
            cursor.execute(query, (table_name,))
            return [row[0] for row in cursor.fetchall()]

    @cached_property
    def _references_graph(self) -> Callable[[str], list[str]]:
        return lru_cache(maxsize=512)(self._referencing_tables)

    # -- time zones ---------------------------------------------------------

    def _shift(self, tzname: str | None) -> Shift:
        if tzname and settings.USE_TZ:
            return plan_shift(tzname, self.connection.timezone_name)
        return Shift()

    def _local(self, shift: Shift) -> str:
        """The wall time of ``{v}`` in the target zone, to the second."""
        return shifted_sql("substr({v}, 1, 19)", shift)

    def _expression(
        self, template: str, sql: str, params: Params, shift: Shift | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        """Render ``template``, where ``{l}`` is the local wall time of the value.

        ``{v}`` is the value itself (for its microseconds).
        """
        local = self._local(shift or Shift())
        return render(template.replace("{l}", local), v=(sql, params))

    # -- extraction ---------------------------------------------------------

    _EXTRACTS = {
        "year": _int("strftime('%%Y', {l})"),
        "month": _int("strftime('%%m', {l})"),
        "day": _int("strftime('%%d', {l})"),
        "hour": _int("strftime('%%H', {l})"),
        "minute": _int("strftime('%%M', {l})"),
        "second": _int("strftime('%%S', {l})"),
        "week_day": _int("strftime('%%w', {l})") + " + 1",
        "iso_week_day": "(" + _int("strftime('%%w', {l})") + " + 6) %% 7 + 1",
        # The ISO week and year are those of the week's Thursday.
        "week": "("
        + _int("strftime('%%j', {l}, '-3 days', 'weekday 4')")
        + " + 6) / 7",
        "iso_year": _int("strftime('%%Y', {l}, '-3 days', 'weekday 4')"),
        "quarter": "(" + _int("strftime('%%m', {l})") + " + 2) / 3",
    }

    def _extract(
        self, lookup_type: str, sql: str, params: Params, shift: Shift
    ) -> tuple[str, tuple[Any, ...]]:
        lookup = lookup_type.lower()
        if lookup == "microsecond":
            template = (
                f"CASE WHEN {{l}} IS NULL THEN NULL ELSE {fraction_us('{v}', 20)} END"
            )
        else:
            try:
                template = self._EXTRACTS[lookup]
            except KeyError:
                raise _unsupported_lookup(lookup_type) from None
        return self._expression(f"({template})", sql, params, shift)

    def date_extract_sql(
        self, lookup_type: str, sql: str, params: Params
    ) -> tuple[str, tuple[Any, ...]]:
        return self._extract(lookup_type, sql, params, Shift())

    def datetime_extract_sql(
        self, lookup_type: str, sql: str, params: Params, tzname: str | None
    ) -> tuple[str, tuple[Any, ...]]:
        return self._extract(lookup_type, sql, params, self._shift(tzname))

    def time_extract_sql(
        self, lookup_type: str, sql: str, params: Params
    ) -> tuple[str, tuple[Any, ...]]:
        lookup = lookup_type.lower()
        parts = {
            "hour": _int("substr({v}, 1, 2)"),
            "minute": _int("substr({v}, 4, 2)"),
            "second": _int("substr({v}, 7, 2)"),
        }
        if lookup == "microsecond":
            template = (
                f"CASE WHEN {{v}} IS NULL THEN NULL ELSE {fraction_us('{v}', 9)} END"
            )
        elif lookup in parts:
            # typecast_time() returns None for text that is not a time.
            template = (
                "CASE WHEN time(substr({v}, 1, 8)) IS NULL THEN NULL "
                f"ELSE {parts[lookup]} END"
            )
        else:
            raise _unsupported_lookup(lookup_type)
        return render(f"({template})", v=(sql, params))

    # -- truncation ---------------------------------------------------------

    _QUARTER = (
        "strftime('%%Y-', {l}) || printf('%%02d', ("
        + _int("strftime('%%m', {l})")
        + " - 1) / 3 * 3 + 1) || '-01'"
    )
    _DATE_TRUNCS = {
        "year": "strftime('%%Y-01-01', {l})",
        "quarter": _QUARTER,
        "month": "strftime('%%Y-%%m-01', {l})",
        "week": "strftime('%%Y-%%m-%%d', {l}, '-6 days', 'weekday 1')",
        "day": "strftime('%%Y-%%m-%%d', {l})",
    }
    _TIME_TRUNCS = {
        "hour": "strftime('%%H:00:00', {l})",
        "minute": "strftime('%%H:%%M:00', {l})",
        "second": "strftime('%%H:%%M:%%S', {l})",
    }

    def date_trunc_sql(
        self, lookup_type: str, sql: str, params: Params, tzname: str | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        template = self._trunc_template(self._DATE_TRUNCS, lookup_type)
        return self._expression(template, sql, params, self._shift(tzname))

    def time_trunc_sql(
        self, lookup_type: str, sql: str, params: Params, tzname: str | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        template = self._trunc_template(self._TIME_TRUNCS, lookup_type)
        shift = self._shift(tzname)
        if shift.is_identity():
            return self._expression(template, sql, params)
        # Only text with a date part is a datetime Django converts; a bare
        # time is truncated as it is.
        shifted, shifted_params = self._expression(template, sql, params, shift)
        plain, plain_params = self._expression(template, sql, params)
        return render(
            "CASE WHEN instr({v}, ' ') > 0 THEN {s} ELSE {p} END",
            v=(sql, params),
            s=(shifted, shifted_params),
            p=(plain, plain_params),
        )

    def datetime_trunc_sql(
        self, lookup_type: str, sql: str, params: Params, tzname: str | None
    ) -> tuple[str, tuple[Any, ...]]:
        lookup = lookup_type.lower()
        if lookup in self._DATE_TRUNCS:
            template = f"{self._DATE_TRUNCS[lookup]} || ' 00:00:00'"
        elif lookup in self._TIME_TRUNCS:
            template = f"strftime('%%Y-%%m-%%d ', {{l}}) || {self._TIME_TRUNCS[lookup]}"
        else:
            raise _unsupported_lookup(lookup_type)
        return self._expression(template, sql, params, self._shift(tzname))

    @staticmethod
    def _trunc_template(table: dict[str, str], lookup_type: str) -> str:
        try:
            return table[lookup_type.lower()]
        except KeyError:
            raise _unsupported_lookup(lookup_type) from None

    # -- casts --------------------------------------------------------------

    def datetime_cast_date_sql(
        self, sql: str, params: Params, tzname: str | None
    ) -> tuple[str, tuple[Any, ...]]:
        return self._expression(
            "strftime('%%Y-%%m-%%d', {l})", sql, params, self._shift(tzname)
        )

    def datetime_cast_time_sql(
        self, sql: str, params: Params, tzname: str | None
    ) -> tuple[str, tuple[Any, ...]]:
        template = "strftime('%%H:%%M:%%S', {l}) || " + microseconds_suffix("{v}", 20)
        return self._expression(template, sql, params, self._shift(tzname))

    # -- durations ----------------------------------------------------------

    def combine_duration_expression(
        self, connector: str, sub_expressions: list[str]
    ) -> str:
        """Datetime ± duration (microseconds) as SQL; ``*`` and ``/`` plain.

        The caller keeps the parameters of ``sub_expressions`` in order, so
        each is written once, bound as ``a`` and ``b`` by a subquery.
        """
        if connector not in ["+", "-", "*", "/"]:
            raise DatabaseError(f"Invalid connector for timedelta: {connector}.")
        if len(sub_expressions) != 2:
            raise ValueError("Too many params for timedelta operations.")
        lhs, rhs = sub_expressions
        if connector == "*":
            return f"(({lhs}) * ({rhs}))"
        if connector == "/":
            # Python's true division: a float, never an integer division.
            return f"(CAST(({lhs}) AS REAL) / ({rhs}))"
        if connector == "+":
            expression = (
                "CASE WHEN typeof(a) = 'integer' "
                f"THEN {self._add_microseconds('b', 'a')} "
                f"ELSE {self._add_microseconds('a', 'b')} END"
            )
        else:
            expression = self._add_microseconds("a", "b", "-")
        # lhs and rhs are not parenthesised again: nesting depth is what
        # limits chained arithmetic (SQLite's parser stack).
        return f"(SELECT {expression} FROM (SELECT {lhs} AS a, {rhs} AS b))"

    @staticmethod
    def _add_microseconds(value: str, delta: str, sign: str = "+") -> str:
        """``str(typecast_timestamp(value) ± timedelta(microseconds=delta))``.

        A date moves by whole days, by the ``days`` of the normalised
        timedelta (floored), as Python's ``date ± timedelta`` does.
        """
        total = (
            f"((unixepoch(substr({value}, 1, 19)) + {_EPOCH_SHIFT}) * 1000000 "
            f"+ {fraction_us(value, 20)} {sign} ({delta}))"
        )
        seconds = f"({total} / 1000000 - {_EPOCH_SHIFT})"
        micro = f"({total} %% 1000000)"
        day = 86_400_000_000
        days = f"(({delta}) - ((({delta}) %% {day}) + {day}) %% {day}) / {day}"
        return (
            f"CASE WHEN {value} IS NULL OR {delta} IS NULL "
            f"OR unixepoch(substr({value}, 1, 19)) IS NULL THEN NULL "
            f"WHEN instr({value}, ' ') = 0 THEN "
            f"date({value}, ({sign}{days}) || ' days') "
            f"ELSE datetime({seconds}, 'unixepoch') || CASE WHEN {micro} = 0 "
            f"THEN '' ELSE printf('.%%06d', {micro}) END END"
        )

    def subtract_temporals(
        self,
        internal_type: str,
        lhs: tuple[str, Params],
        rhs: tuple[str, Params],
    ) -> tuple[str, tuple[Any, ...]]:
        """The difference in microseconds, like ``django_time_diff`` and
        ``django_timestamp_diff``."""
        if internal_type == "TimeField":
            side = (
                "((unixepoch('2000-01-01 ' || substr({x}, 1, 8)) - 946684800) "
                f"* 1000000 + {fraction_us('{x}', 9)})"
            )
        else:
            side = (
                "(unixepoch(substr({x}, 1, 19)) * 1000000 + "
                f"{fraction_us('{x}', 20)})"
            )
        template = f"({side.replace('{x}', '{a}')} - {side.replace('{x}', '{b}')})"
        return render(template, a=lhs, b=rhs)

    # -- operators ----------------------------------------------------------

    def combine_expression(self, connector: str, sub_expressions: list[str]) -> str:
        """``#`` (bitwise XOR) without the Python ``BITXOR`` function.

        ``(a | b) - (a & b)`` uses each side twice, so both are bound once
        by a subquery (the caller keeps their parameters in order).
        """
        if connector == "#":
            lhs, rhs = sub_expressions
            return (
                f"(SELECT (a | b) - (a & b) FROM (SELECT ({lhs}) AS a, ({rhs}) AS b))"
            )
        return super().combine_expression(connector, sub_expressions)
