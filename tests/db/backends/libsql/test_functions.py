"""Every rewritten SQL function against Django's own Python implementation.

Each case builds one expression twice: with Django's stock SQLite operations
(calls to the Python functions of ``django/db/backends/sqlite3/_functions.py``,
run on stdlib SQLite where Django registered them) and with the libSQL
ENGINE's operations (native SQL, run on a real sqld through the remote
ENGINE's cursor). The results must be equal, over edge cases: leap days,
ISO weeks across years, week days, quarters, microseconds, negative
durations, time zones with and without DST, NULLs, text that is not a date.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.db import NotSupportedError, OperationalError
from django.db.models import FloatField, Value, aggregates, functions
from django.db.models.expressions import CombinedExpression, RawSQL
from django.db.models.sql import Query
from django.db.utils import ConnectionHandler

from django_async_backend.db.backends.libsql import compiler as libsql_compiler
from django_async_backend.db.backends.libsql.operations import DatabaseOperations
from tests.db.backends.libsql.helpers import libsql_suite, sync_wrapper
from tests.sqld import Sqld

pytestmark = libsql_suite

DATETIMES = [
    "2020-02-29 23:59:59.999999",
    "2020-02-29 00:00:00",
    "2021-01-01 00:00:00",
    "2021-01-03 23:30:00.5",
    "2020-12-31 12:30:45.000001",
    "2019-12-30 01:02:03",
    "2016-01-03 23:00:00",
    "2026-12-28 00:00:00",
    "1999-12-31 23:59:59",
    "0999-06-15 10:20:30.123",
    "1969-12-31 23:59:59.5",
    "2024-03-31 00:59:59",
    "2024-03-31 01:00:00",
    "2024-10-27 00:30:00",
    "2024-10-27 01:30:00",
    "2024-03-10 07:00:00",
    "2024-11-03 05:59:59.999",
    "2009-06-30 23:59:59.000000",
    None,
    "not a date",
]
DATES = [
    "2020-02-29",
    "2021-01-01",
    "2021-01-03",
    "2019-12-30",
    "2016-01-03",
    "1900-03-01",
    "0001-01-01",
    None,
]
TIMES = ["00:00:00", "23:59:59.999999", "12:34:56.5", "01:02:03.000001", None]
ZONES = [
    None,
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Etc/GMT+5",
    "+05:30",
    "-03:00",
    "UTC+02:00",
    "Europe/Paris-01:00",
]
DATE_LOOKUPS = ["year", "iso_year", "month", "day", "week", "week_day"]
DATE_LOOKUPS += ["iso_week_day", "quarter"]
TIME_LOOKUPS = ["hour", "minute", "second"]


@pytest.fixture(scope="module")
def stock() -> Iterator[Any]:
    """Django's stock SQLite backend, on stdlib SQLite (:memory:)."""
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )
    connection = handler["default"]
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def remote(server: Sqld) -> Iterator[Any]:
    """The libSQL ENGINE's remote mode on a real sqld."""
    connection = sync_wrapper(server.url)
    assert isinstance(connection.ops, DatabaseOperations)
    yield connection
    connection.close()


def _select(connection: Any, sql: str, params: Sequence[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", tuple(params))
        return cursor.fetchone()[0]


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float) or isinstance(got, float):
        if expected is None or got is None:
            return expected is got
        return math.isclose(expected, got, rel_tol=1e-12, abs_tol=1e-12)
    return expected == got and type(expected) is type(got)


def _compare(stock: Any, remote: Any, build: Any, cases: Any) -> None:
    """Run ``build(ops, *case) -> (sql, params)`` for stock and libSQL ops."""
    ours = remote.ops
    failures = []
    for case in cases:
        expected = _select(stock, *build(stock.ops, *case))
        got = _select(remote, *build(ours, *case))
        if not _same(expected, got):
            failures.append((case, expected, got))
    assert not failures, "\n".join(
        f"{case!r}: Django {expected!r}, libSQL {got!r}"
        for case, expected, got in failures
    )


def test_sqld_has_no_django_functions(remote: Any) -> None:
    """The premise: the stock SQL fails on the server."""
    with pytest.raises(Exception, match="no such function"):
        _select(remote, "django_date_extract('year', '2020-01-01')", ())


def test_date_extract(stock: Any, remote: Any) -> None:
    _compare(
        stock,
        remote,
        lambda ops, lookup, value: ops.date_extract_sql(lookup, "%s", (value,)),
        itertools.product(DATE_LOOKUPS, DATES + DATETIMES[:8]),
    )


def test_datetime_extract(stock: Any, remote: Any) -> None:
    _compare(
        stock,
        remote,
        lambda ops, lookup, value, tz: ops.datetime_extract_sql(
            lookup, "%s", (value,), tz
        ),
        itertools.product(DATE_LOOKUPS + TIME_LOOKUPS, DATETIMES, ZONES),
    )


def test_time_extract(stock: Any, remote: Any) -> None:
    _compare(
        stock,
        remote,
        lambda ops, lookup, value: ops.time_extract_sql(lookup, "%s", (value,)),
        itertools.product(TIME_LOOKUPS, TIMES),
    )


def test_date_trunc(stock: Any, remote: Any) -> None:
    lookups = ["year", "quarter", "month", "week", "day"]
    _compare(
        stock,
        remote,
        lambda ops, lookup, value: ops.date_trunc_sql(lookup, "%s", (value,)),
        itertools.product(lookups, DATES),
    )
    _compare(
        stock,
        remote,
        lambda ops, lookup, value, tz: ops.date_trunc_sql(lookup, "%s", (value,), tz),
        itertools.product(lookups, DATETIMES, ZONES),
    )


def test_datetime_trunc(stock: Any, remote: Any) -> None:
    lookups = ["year", "quarter", "month", "week", "day", "hour", "minute"]
    _compare(
        stock,
        remote,
        lambda ops, lookup, value, tz: ops.datetime_trunc_sql(
            lookup, "%s", (value,), tz
        ),
        itertools.product([*lookups, "second"], DATETIMES, ZONES),
    )


def test_time_trunc(stock: Any, remote: Any) -> None:
    _compare(
        stock,
        remote,
        lambda ops, lookup, value: ops.time_trunc_sql(lookup, "%s", (value,)),
        itertools.product(TIME_LOOKUPS, TIMES),
    )
    _compare(
        stock,
        remote,
        lambda ops, lookup, value, tz: ops.time_trunc_sql(lookup, "%s", (value,), tz),
        itertools.product(TIME_LOOKUPS, DATETIMES, ZONES),
    )


def test_datetime_cast_date_and_time(stock: Any, remote: Any) -> None:
    for method in ("datetime_cast_date_sql", "datetime_cast_time_sql"):
        _compare(
            stock,
            remote,
            lambda ops, value, tz, method=method: getattr(ops, method)(
                "%s", (value,), tz
            ),
            itertools.product(DATETIMES, ZONES),
        )


DELTAS = [0, 1, -1, 999_999, 1_000_000, -86_400_000_000, 86_399_999_999]
DELTAS += [36 * 3600 * 1_000_000 + 7, -(10**12) - 3, None]


def test_datetime_plus_and_minus_duration(stock: Any, remote: Any) -> None:
    # Python overflows (an error, not a value) before year 1.
    values = [v for v in DATETIMES + DATES if v != "0001-01-01"]

    def build(ops: Any, connector: str, value: Any, delta: Any, flip: bool) -> Any:
        if flip:
            return ops.combine_duration_expression(connector, ["%s", "%s"]), (
                delta,
                value,
            )
        return ops.combine_duration_expression(connector, ["%s", "%s"]), (
            value,
            delta,
        )

    _compare(
        stock,
        remote,
        build,
        [
            *itertools.product(["+"], values, DELTAS, [False, True]),
            *itertools.product(["-"], values, DELTAS, [False]),
        ],
    )


def test_duration_times_and_divided(stock: Any, remote: Any) -> None:
    _compare(
        stock,
        remote,
        lambda ops, connector, a, b: (
            ops.combine_duration_expression(connector, ["%s", "%s"]),
            (a, b),
        ),
        itertools.product(["*", "/"], [86_400_000_000, -7, 3], [2, 3, 0.5, -4]),
    )


def test_subtract_temporals(stock: Any, remote: Any) -> None:
    def build(ops: Any, kind: str, lhs: Any, rhs: Any) -> Any:
        return ops.subtract_temporals(kind, ("%s", [lhs]), ("%s", [rhs]))

    datetimes = [v for v in DATETIMES if v not in (None, "not a date")]
    _compare(
        stock,
        remote,
        build,
        [
            *(
                ("DateTimeField", a, b)
                for a, b in itertools.product(datetimes, repeat=2)
            ),
            *(("DateField", a, b) for a, b in itertools.product(DATES[:-1], repeat=2)),
            *(("TimeField", a, b) for a, b in itertools.product(TIMES[:-1], repeat=2)),
            ("DateTimeField", None, "2020-01-01 00:00:00"),
            ("TimeField", "00:00:00", None),
        ],
    )


def test_bitxor(stock: Any, remote: Any) -> None:
    _compare(
        stock,
        remote,
        lambda ops, a, b: (ops.combine_expression("#", ["%s", "%s"]), (a, b)),
        itertools.product([0, 5, -1, 2**62, None], [3, -8, 0, None]),
    )


# -- expressions the compiler rewrites ------------------------------------


def _compile(connection: Any, expression: Any) -> tuple[str, Sequence[Any]]:
    query = Query(None)
    resolved = expression.resolve_expression(query)
    return query.get_compiler(connection=connection).compile(resolved)


def _compare_expressions(stock: Any, remote: Any, expressions: Any) -> None:
    failures = []
    for expression in expressions:
        expected = _select(stock, *_compile(stock, expression))
        got = _select(remote, *_compile(remote, expression))
        if not _same(expected, got):
            failures.append((expression, expected, got))
    assert not failures, "\n".join(
        f"{expression!r}: Django {expected!r}, libSQL {got!r}"
        for expression, expected, got in failures
    )


TEXTS = ["abc", "", "héllo wörld", "日本語", None]


def test_padding_and_repeat(stock: Any, remote: Any) -> None:
    cases = []
    for text, length, fill in itertools.product(
        TEXTS, [0, 1, 3, 5, 12, None], [" ", "xy", "é日", "", None]
    ):
        for pad in (functions.LPad, functions.RPad):
            cases.append(pad(Value(text), Value(length), Value(fill)))
    for text, count in itertools.product(TEXTS, [0, 1, 3, None]):
        cases.append(functions.Repeat(Value(text), Value(count)))
    _compare_expressions(stock, remote, cases)


def test_math(stock: Any, remote: Any) -> None:
    numbers = [2, 10, 100.25, None]
    cases = []
    # stdlib SQLite's own LOG() (math functions compiled in) returns NULL for
    # a base below 1, where Django's Python one computes: bases above 1 only.
    for base, x in itertools.product(numbers, [*numbers, 0.5]):
        cases.append(functions.Log(Value(base), Value(x)))
    for x, y in itertools.product([7, -7, 7.5, -7.5, 0, None], [3, -2, 2.5, None]):
        cases.append(functions.Mod(Value(x), Value(y)))
    for x in [-2.5, 0, 3, 0.75, None]:
        cases += [
            functions.Sign(Value(x)),
            functions.Cot(Value(x or 1)),
            functions.ACos(Value(0.5 if x is None else x / 4)),
            functions.ASin(Value(0.25)),
            functions.ATan(Value(x)),
            functions.ATan2(Value(x), Value(2)),
            functions.Ceil(Value(x)),
            functions.Floor(Value(x)),
            functions.Degrees(Value(x)),
            functions.Radians(Value(x)),
            functions.Exp(Value(x)),
            functions.Sin(Value(x)),
            functions.Cos(Value(x)),
            functions.Tan(Value(x)),
            functions.Power(Value(x), Value(2)),
            functions.Sqrt(Value(abs(x) if x is not None else None)),
            functions.Ln(Value(abs(x) + 1 if x is not None else None)),
            functions.Reverse(Value("héllo" if x is None else str(x))),
        ]
    cases.append(functions.Pi())
    _compare_expressions(stock, remote, cases)


def test_random_is_in_unit_interval(remote: Any) -> None:
    sql, params = _compile(remote, functions.Random())
    values = [_select(remote, sql, params) for _ in range(50)]
    assert all(isinstance(v, float) and 0 <= v < 1 for v in values)
    assert len(set(values)) > 40


@pytest.mark.parametrize(
    "hash_function",
    ["MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512"],
)
def test_hashes_raise_not_supported_at_compile_time(
    remote: Any, hash_function: str
) -> None:
    expression = getattr(functions, hash_function)(Value("abc"))
    with pytest.raises(NotSupportedError, match=rf"^{hash_function}\(\) is not"):
        _compile(remote, expression)
    nested = functions.Upper(expression)
    with pytest.raises(NotSupportedError, match=hash_function):
        _compile(remote, nested)


def test_rewrite_table_covers_every_python_only_function() -> None:
    """Each expression class whose SQL is a Python-only function is rewritten."""
    expected = {functions.LPad, functions.RPad, functions.Repeat, functions.Random}
    expected |= {functions.Log, functions.Mod, aggregates.StdDev, aggregates.Variance}
    expected |= {functions.MD5, functions.SHA1, functions.SHA224, functions.SHA256}
    expected |= {functions.SHA384, functions.SHA512}
    assert expected <= set(libsql_compiler.REWRITES)


def test_variance_and_stddev(stock: Any, remote: Any) -> None:
    rows = [1, 2, 4, 8.5, -3]  # Django's Python aggregates fail on NULLs
    table = "(SELECT %s AS x" + " UNION ALL SELECT %s" * (len(rows) - 1) + ")"
    column = RawSQL("x", (), output_field=FloatField())
    failures = []
    for klass, sample in itertools.product(
        [aggregates.StdDev, aggregates.Variance], [False, True]
    ):
        results = []
        for connection in (stock, remote):
            sql, params = _compile(connection, klass(column, sample=sample))
            results.append(_select(connection, f"{sql} FROM {table}", [*params, *rows]))
        if not math.isclose(results[0], results[1], rel_tol=1e-12):
            failures.append((klass, sample, results))
    assert not failures


def test_combined_bitxor_expression(stock: Any, remote: Any) -> None:
    expression = CombinedExpression(Value(12), "#", Value(10))
    _compare_expressions(stock, remote, [expression])


@pytest.mark.parametrize("db_zone", ["Asia/Bangkok", "America/Chicago"])
def test_database_time_zone(server: Sqld, db_zone: str) -> None:
    """DATABASES[...]["TIME_ZONE"] a named zone: stored wall times are local
    to it (folds and gaps take the earlier offset, like zoneinfo)."""
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": ":memory:",
                "TIME_ZONE": db_zone,
            }
        }
    )
    stock = handler["default"]
    remote = sync_wrapper(server.url, TIME_ZONE=db_zone)
    values = [*DATETIMES, "2024-03-10 02:30:00", "2024-11-03 01:30:00"]
    values += ["2024-11-03 00:59:59", "2024-11-03 02:00:00"]
    try:
        _compare(
            stock,
            remote,
            lambda ops, value, tz: ops.datetime_trunc_sql("minute", "%s", (value,), tz),
            itertools.product(values, ZONES),
        )
        _compare(
            stock,
            remote,
            lambda ops, value, tz: ops.datetime_cast_time_sql("%s", (value,), tz),
            itertools.product(values, ZONES),
        )
    finally:
        stock.close()
        remote.close()


def test_unknown_lookup_type_is_an_operational_error(stock: Any, remote: Any) -> None:
    """Like stock SQLite (its Python function raises), never SQL injection."""
    lookup = "year', %s)) OR 1=1;--"
    with pytest.raises(OperationalError):
        _select(
            stock,
            *stock.ops.datetime_trunc_sql(lookup, "%s", ("2020-01-01 00:00:00",), None),
        )
    for method in ("datetime_trunc_sql", "datetime_extract_sql"):
        with pytest.raises(OperationalError, match="Unsupported lookup type"):
            getattr(remote.ops, method)(lookup, "%s", ("x",), None)
    with pytest.raises(OperationalError, match="Unsupported lookup type"):
        remote.ops.date_trunc_sql(lookup, "%s", ("x",))


@pytest.mark.skipif(not hasattr(functions, "UUID4"), reason="Django 6.x")
def test_django6_uuid4_any_value_and_bit_aggregates(remote: Any) -> None:
    import uuid

    values = {_select(remote, *_compile(remote, functions.UUID4())) for _ in range(20)}
    assert len(values) == 20
    for value in values:
        assert uuid.UUID(hex=value).version == 4 and len(value) == 32
        assert uuid.UUID(hex=value).variant == uuid.RFC_4122
    column = RawSQL("x", (), output_field=FloatField())
    sql, params = _compile(remote, aggregates.AnyValue(column))
    assert _select(remote, f"{sql} FROM (SELECT 3 AS x)", params) == 3
    numbers = "(SELECT 6 AS x UNION ALL SELECT 3 UNION ALL SELECT -5)"
    for name, expected in (("BitAnd", 6 & 3 & -5), ("BitOr", 6 | 3 | -5)):
        sql, params = _compile(remote, getattr(aggregates, name)(column))
        assert _select(remote, f"{sql} FROM {numbers}", params) == expected
    sql, params = _compile(remote, aggregates.BitXor(column))
    assert _select(remote, f"{sql} FROM {numbers}", params) == 6 ^ 3 ^ -5
