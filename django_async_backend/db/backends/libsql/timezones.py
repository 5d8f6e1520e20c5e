"""Time zone conversion in SQL, for a server without a time zone database.

Django's SQLite backend converts stored datetimes between zones in Python
(``zoneinfo``). A libSQL server has only SQLite's date functions, which know
UTC and fixed modifiers, so the conversion is planned here, in Python, at
compile time, and emitted as SQLite date modifiers:

* a zone whose UTC offset never changes (``UTC``, ``Etc/GMT-3``, a fixed
  ``+05:30`` offset) becomes one ``'N seconds'`` modifier;
* any other named zone becomes a lookup in a JSON table of its UTC offsets,
  sampled from ``zoneinfo`` for instants from 1800 to 2100 (before 1800
  the zone's earliest offset, usually its local mean time; after 2100 the
  offset in force at 2100, so DST rules past 2100 are not applied).

The database connection's own zone (``DATABASES[...]["TIME_ZONE"]``, UTC by
default) is handled the same way, from its local wall times to UTC; in a
DST fold or gap the earlier offset applies, as ``zoneinfo`` does with
``fold=0``. An unknown zone raises ``NotSupportedError`` naming it.
"""

from __future__ import annotations

import datetime
import functools
import json
import zoneinfo
from dataclasses import dataclass

from django.db import NotSupportedError
from django.db.backends.utils import split_tzname_delta

__all__ = ["Shift", "plan_shift", "shifted_sql", "zone_offsets"]

_FIRST = int(datetime.datetime(1800, 1, 1, tzinfo=datetime.UTC).timestamp())
_LAST = int(datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC).timestamp())
_DAY = 86400


@dataclass(frozen=True)
class Shift:
    """How to turn a stored wall time into the wall time of the target zone.

    ``steps`` apply in order: an ``int`` adds that many seconds; a ``str``
    is a JSON array of ``[start, modifier]`` pairs, sorted by start, and
    adds the modifier of the last pair starting at or before the value.
    """

    steps: tuple[int | str, ...] = ()

    def is_identity(self) -> bool:
        return not self.steps

    @classmethod
    def of(cls, *steps: int | str) -> Shift:
        """Consecutive second counts merged, zeros dropped."""
        merged: list[int | str] = []
        for step in steps:
            if isinstance(step, int) and merged and isinstance(merged[-1], int):
                merged[-1] += step
            else:
                merged.append(step)
        return cls(tuple(step for step in merged if step != 0))


def _offset_at(zone: zoneinfo.ZoneInfo, timestamp: int) -> int:
    moment = datetime.datetime.fromtimestamp(timestamp, zone)
    offset = moment.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


@functools.lru_cache(maxsize=64)
def zone_offsets(name: str) -> tuple[tuple[int, int], ...]:
    """The (UTC timestamp, offset seconds) transitions of zone ``name``.

    Sampled daily over 1800-2100 and each change bisected to the second;
    the first entry is the zone's earliest offset (at year 1). One entry
    means a fixed offset.
    """
    zone = zoneinfo.ZoneInfo(name)
    earliest = datetime.datetime(1, 1, 2, tzinfo=datetime.UTC).astimezone(zone)
    current = int(earliest.utcoffset().total_seconds())  # type: ignore[union-attr]
    transitions = [(_FIRST, current)]
    if _offset_at(zone, _FIRST) != current:
        current = _offset_at(zone, _FIRST)
        transitions.append((_FIRST, current))
    previous = _FIRST
    for timestamp in range(_FIRST + _DAY, _LAST + 1, _DAY):
        offset = _offset_at(zone, timestamp)
        if offset != current:
            low, high = previous, timestamp
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_at(zone, middle) == current:
                    low = middle
                else:
                    high = middle
            transitions.append((high, offset))
            current = offset
        previous = timestamp
    return tuple(transitions)


def _modifier(seconds: int) -> str:
    return f"{seconds:+d} seconds"


@functools.lru_cache(maxsize=64)
def _table(name: str) -> str:
    rows = [
        [
            "0000-01-01 00:00:00"
            if index == 0
            else datetime.datetime.fromtimestamp(start, datetime.UTC).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            _modifier(offset),
        ]
        for index, (start, offset) in enumerate(zone_offsets(name))
    ]
    return json.dumps(rows, separators=(",", ":"))


@functools.lru_cache(maxsize=64)
def _wall_table(name: str) -> str:
    """Zone ``name``'s local wall times to UTC (modifiers ``-offset``).

    A period is keyed by its local start under the larger of the offsets
    before and after it, so wall times in a fold or a gap take the earlier
    offset, like ``zoneinfo`` with ``fold=0``.
    """
    rows = []
    previous = None
    for start, offset in zone_offsets(name):
        if previous is None:
            key = "0000-01-01 00:00:00"
        else:
            local = start + max(previous, offset)
            key = datetime.datetime.fromtimestamp(local, datetime.UTC).strftime(
                "%Y-%m-%d %H:%M:%S"
            )
        rows.append([key, _modifier(-offset)])
        previous = offset
    return json.dumps(rows, separators=(",", ":"))


def _fixed_offset(name: str, role: str) -> int | None:
    try:
        offsets = zone_offsets(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise NotSupportedError(
            f"libSQL: unknown time zone {name!r} ({role})."
        ) from error
    return offsets[0][1] if len(offsets) == 1 else None


def plan_shift(tzname: str | None, conn_tzname: str | None) -> Shift:
    """The SQL shift matching Django's ``_sqlite_datetime_parse(dt, tz, conn)``.

    Django attaches ``conn_tzname`` to the stored wall time, adds the
    ``+HH:MM`` delta of ``tzname`` if any, then converts to ``tzname``'s
    zone (or ``conn_tzname``'s when ``tzname`` is only an offset).
    """
    if not conn_tzname or tzname is None or tzname == conn_tzname:
        return Shift()
    conn_offset = _fixed_offset(conn_tzname, "the connection's TIME_ZONE")
    name, sign, offset = split_tzname_delta(tzname)
    delta = 0
    if offset:
        hours, minutes = offset.split(":")
        delta = int(hours) * 3600 + int(minutes) * 60
        if sign == "-":
            delta = -delta
    to_utc: int | str = (
        -conn_offset if conn_offset is not None else _wall_table(conn_tzname)
    )
    target = name or conn_tzname
    target_offset = _fixed_offset(target, "the current time zone")
    from_utc: int | str = target_offset if target_offset is not None else _table(target)
    return Shift.of(delta, to_utc, from_utc)


def shifted_sql(base: str, shift: Shift) -> str:
    """SQL for the target zone's wall time of ``base`` (seconds precision).

    A table step repeats its input; callers bind values, not expressions.
    """
    sql = base
    for step in shift.steps:
        if isinstance(step, int):
            sql = f"datetime({sql}, '{_modifier(step)}')"
        else:
            table = step.replace("'", "''")
            lookup = (
                f"(SELECT value ->> 1 FROM json_each('{table}') "
                f"WHERE value ->> 0 <= {sql} ORDER BY key DESC LIMIT 1)"
            )
            sql = f"datetime({sql}, {lookup})"
    return sql
