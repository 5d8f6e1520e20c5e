"""The QuerySet API on the remote libSQL ENGINE gives stock SQLite's results.

Django's SQLite backend computes date/time extraction and truncation,
``__date``/``__time``, duration arithmetic, padding and more in Python
functions a libSQL server does not have; the ENGINE's ``DatabaseOperations``
and compiler rewrite them as native SQL. Each test runs the same querysets
on Django's stock SQLite backend (stdlib, :memory:) and on the ENGINE over a
real sqld, on the same rows, and compares the results.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management.color import no_style
from django.db import DatabaseError, NotSupportedError, models
from django.db.models import F, Value, functions
from django.db.models.aggregates import Count, StdDev, Variance
from django.db.models.expressions import ExpressionWrapper
from django.db.models.sql.subqueries import InsertQuery
from django.db.utils import ConnectionHandler
from django.utils import timezone

from django_async_backend.db.backends.libsql.operations import DatabaseOperations
from tests.db.backends.libsql.helpers import libsql_suite, sync_wrapper
from tests.sqld import Sqld

pytestmark = libsql_suite

UTC = datetime.UTC


class Moment(models.Model):
    name = models.CharField(max_length=50)
    at = models.DateTimeField(null=True)
    day = models.DateField(null=True)
    clock = models.TimeField(null=True)
    span = models.DurationField(null=True)
    n = models.IntegerField(null=True)
    x = models.FloatField(null=True)

    class Meta:
        # Not an installed app: the table is made by the fixture on its own
        # server, so the test runner's serialization of the test databases
        # and makemigrations --check on tests.app must not see the model.
        app_label = "libsql_functions"
        db_table = "libsql_functions_moment"


def _dt(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


ROWS = [
    Moment(
        name="leap",
        at=_dt(2020, 2, 29, 23, 59, 59, 999999),
        day=datetime.date(2020, 2, 29),
        clock=datetime.time(23, 59, 59, 999999),
        span=datetime.timedelta(microseconds=1),
        n=7,
        x=1.5,
    ),
    Moment(
        name="new year",
        at=_dt(2021, 1, 1, 0, 0),
        day=datetime.date(2021, 1, 3),
        clock=datetime.time(0, 0),
        span=datetime.timedelta(days=-1, seconds=5),
        n=-7,
        x=-2.25,
    ),
    Moment(
        name="Ünïcode",
        at=_dt(2024, 3, 31, 0, 59, 59, 500000),
        day=datetime.date(2019, 12, 30),
        clock=datetime.time(12, 30, 45, 1),
        span=datetime.timedelta(days=400, hours=3),
        n=12,
        x=10.0,
    ),
    Moment(
        name="fall back",
        at=_dt(2024, 10, 27, 1, 30),
        day=datetime.date(2016, 1, 3),
        clock=datetime.time(1, 2, 3),
        span=datetime.timedelta(0),
        n=0,
        x=0.0,
    ),
    Moment(name="nulls"),
]


def _create(connection: Any) -> None:
    # Not atomic: atomic() looks the alias up in the global connections.
    with connection.schema_editor(atomic=False) as editor:
        editor.create_model(Moment)
    query = InsertQuery(Moment)
    query.insert_values(
        [f for f in Moment._meta.concrete_fields if not f.primary_key], ROWS
    )
    for sql, params in query.get_compiler(connection=connection).as_sql():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


@pytest.fixture(scope="module")
def stock() -> Iterator[Any]:
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )
    connection = handler["default"]
    _create(connection)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def remote(server: Sqld) -> Iterator[Any]:
    connection = sync_wrapper(server.url)
    assert isinstance(connection.ops, DatabaseOperations)
    _create(connection)
    yield connection
    connection.close()


def _rows(connection: Any, queryset: Any) -> list[tuple[Any, ...]]:
    compiler = queryset.query.get_compiler(connection=connection)
    return [tuple(row) for row in compiler.results_iter()]


def _close(expected: Any, got: Any) -> bool:
    if isinstance(expected, float) and isinstance(got, float):
        return math.isclose(expected, got, rel_tol=1e-12, abs_tol=1e-12)
    return expected == got


def _assert_same(stock: Any, remote: Any, queryset: Any) -> list[tuple[Any, ...]]:
    expected = _rows(stock, queryset)
    got = _rows(remote, queryset)
    assert len(expected) == len(got)
    for want, have in zip(expected, got, strict=True):
        assert all(_close(a, b) for a, b in zip(want, have, strict=True)), (
            want,
            have,
        )
    return got


ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]


@pytest.mark.parametrize("zone", ZONES)
def test_extract(stock: Any, remote: Any, zone: str) -> None:
    queryset = Moment.objects.order_by("pk").values_list(
        functions.ExtractYear("at"),
        functions.ExtractIsoYear("at"),
        functions.ExtractQuarter("at"),
        functions.ExtractMonth("at"),
        functions.ExtractWeek("at"),
        functions.ExtractWeekDay("at"),
        functions.ExtractIsoWeekDay("at"),
        functions.ExtractDay("at"),
        functions.ExtractHour("at"),
        functions.ExtractMinute("at"),
        functions.ExtractSecond("at"),
        functions.ExtractIsoYear("day"),
        functions.ExtractWeek("day"),
        functions.ExtractWeekDay("day"),
        functions.ExtractHour("clock"),
        functions.ExtractSecond("clock"),
    )
    with timezone.override(zone):
        rows = _assert_same(stock, remote, queryset)
    # 2020-02-29 23:59:59.999999 UTC is March 1st east of UTC.
    assert rows[0][3] == (2 if zone in ("UTC", "America/New_York") else 3)


@pytest.mark.parametrize("zone", ZONES)
def test_trunc(stock: Any, remote: Any, zone: str) -> None:
    queryset = Moment.objects.order_by("pk").values_list(
        functions.TruncYear("at"),
        functions.TruncQuarter("at"),
        functions.TruncMonth("at"),
        functions.TruncWeek("at"),
        functions.TruncDay("at"),
        functions.TruncHour("at"),
        functions.TruncMinute("at"),
        functions.TruncSecond("at"),
        functions.TruncDate("at"),
        functions.TruncTime("at"),
        functions.TruncQuarter("day"),
        functions.TruncWeek("day"),
        functions.TruncHour("clock"),
        functions.Trunc("at", "hour", output_field=models.TimeField()),
    )
    with timezone.override(zone):
        rows = _assert_same(stock, remote, queryset)
    assert rows[-1] == (None,) * 14


def test_date_and_time_lookups(stock: Any, remote: Any) -> None:
    lookups = [
        {"at__date": datetime.date(2021, 1, 1)},
        {"at__date__lt": datetime.date(2024, 3, 31)},
        {"at__time__gte": datetime.time(1, 0)},
        {"at__year": 2024},
        {"at__iso_year": 2020},
        {"at__week": 53},
        {"at__week_day": 1},
        {"at__quarter": 4},
        {"at__hour__in": [0, 1]},
        {"day__week_day": 1},
        {"day__iso_year": 2020},
        {"clock__minute": 30},
    ]
    for zone in ZONES:
        with timezone.override(zone):
            for lookup in lookups:
                queryset = (
                    Moment.objects.filter(**lookup).order_by("pk").values_list("name")
                )
                _assert_same(stock, remote, queryset)
    with timezone.override("Europe/Paris"):
        queryset = Moment.objects.filter(at__date=datetime.date(2020, 3, 1))
        assert _rows(remote, queryset.values_list("name")) == [("leap",)]


def test_duration_arithmetic(stock: Any, remote: Any) -> None:
    queryset = Moment.objects.order_by("pk").values_list(
        ExpressionWrapper(F("at") + F("span"), output_field=models.DateTimeField()),
        ExpressionWrapper(F("at") - F("span"), output_field=models.DateTimeField()),
        ExpressionWrapper(
            F("day") + datetime.timedelta(hours=-1), output_field=models.DateField()
        ),
        ExpressionWrapper(
            F("at") - _dt(2020, 1, 1, 12), output_field=models.DurationField()
        ),
        ExpressionWrapper(
            F("clock") - datetime.time(12), output_field=models.DurationField()
        ),
        ExpressionWrapper(
            F("day") - datetime.date(2020, 1, 1), output_field=models.DurationField()
        ),
        ExpressionWrapper(F("span") * 3, output_field=models.DurationField()),
        ExpressionWrapper(F("span") / 2, output_field=models.DurationField()),
    )
    rows = _assert_same(stock, remote, queryset)
    assert rows[0][0] == _dt(2020, 3, 1)
    later = Moment.objects.filter(at__gt=F("at") - datetime.timedelta(seconds=1))
    assert len(_assert_same(stock, remote, later.values_list("pk"))) == 4


def test_text_functions(stock: Any, remote: Any) -> None:
    queryset = Moment.objects.order_by("pk").values_list(
        functions.LPad("name", 9, Value("·*")),
        functions.RPad("name", 4),
        functions.LPad("name", 3),
        functions.Repeat("name", 2),
        functions.Repeat("name", 0),
        functions.Reverse("name"),
        functions.Concat("name", Value("!")),
    )
    rows = _assert_same(stock, remote, queryset)
    assert rows[0][:2] == ("·*·*·leap", "leap")


def test_regex_lookups(stock: Any, remote: Any) -> None:
    for lookup in (
        {"name__regex": r"^[a-z]+ [a-z]+$"},
        {"name__iregex": r"^ü"},
        {"name__regex": r"\d"},
        {"name__iregex": r"^[A-F]"},
        {"name__iregex": r"LEAP|YEAR$"},
        {"name__iregex": r"[^a-z ]"},
        {"name__regex": r"^N"},
    ):
        queryset = Moment.objects.filter(**lookup).order_by("pk").values_list("name")
        _assert_same(stock, remote, queryset)


def test_math_and_aggregates(stock: Any, remote: Any) -> None:
    queryset = Moment.objects.order_by("pk").values_list(
        functions.Mod("n", 5),
        functions.Mod("x", 1.25),
        functions.Power("n", 2),
        functions.Log(10, functions.Abs("x") + 1),
        functions.Sign("x"),
        functions.Cot(F("x") + 1),
        F("n").bitxor(5),
        functions.Ceil("x"),
        functions.Sqrt(functions.Abs("x")),
    )
    _assert_same(stock, remote, queryset)
    totals = (
        Moment.objects.filter(x__isnull=False)
        .values("name")
        .annotate(group=Value(1))
        .values("group")
        .annotate(
            sd=StdDev("x"),
            sd_sample=StdDev("x", sample=True),
            var=Variance("x"),
            var_sample=Variance("n", sample=True),
            count=Count("pk"),
        )
        .order_by()
        .values_list("sd", "sd_sample", "var", "var_sample", "count")
    )
    ((*_, count),) = _assert_same(stock, remote, totals)
    assert count == 4


def test_random_ordering_runs(remote: Any) -> None:
    queryset = Moment.objects.order_by("?").values_list("pk")
    assert sorted(_rows(remote, queryset)) == [(i,) for i in range(1, 6)]
    value = Moment.objects.values_list(functions.Random())[:1]
    ((number,),) = _rows(remote, value)
    assert 0 <= number < 1


@pytest.mark.parametrize(
    "name", ["MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512"]
)
def test_hashes_raise_not_supported_naming_the_function(
    stock: Any, remote: Any, name: str
) -> None:
    queryset = Moment.objects.values_list(getattr(functions, name)("name"))
    assert len(_rows(stock, queryset)) == 5  # Django's Python function
    with pytest.raises(NotSupportedError, match=rf"{name}\(\) is not supported"):
        queryset.query.get_compiler(connection=remote).as_sql()
    filtered = Moment.objects.filter(name=getattr(functions, name)("name"))
    with pytest.raises(NotSupportedError, match=name):
        filtered.query.get_compiler(connection=remote).as_sql()


def test_sql_flush_cascade_follows_foreign_keys(remote: Any) -> None:
    """Django's SQLite flush finds referencing tables with REGEXP '(?i)...',
    which the server's regexp() refuses; the ENGINE reads the foreign keys."""
    with remote.cursor() as cursor:
        cursor.execute('CREATE TABLE "flush_a" (id integer PRIMARY KEY)')
        cursor.execute(
            'CREATE TABLE "flush_b" (id integer PRIMARY KEY, '
            'a_id integer REFERENCES "flush_a" ("id"))'
        )
        cursor.execute(
            "CREATE TABLE flush_c (id integer PRIMARY KEY, "
            "b_id integer references FLUSH_B(id))"
        )
    statements = remote.ops.sql_flush(no_style(), ["flush_a"], allow_cascade=True)
    assert sorted(statements) == [
        'DELETE FROM "flush_a";',
        'DELETE FROM "flush_b";',
        'DELETE FROM "flush_c";',
    ]


def test_chained_duration_arithmetic(stock: Any, remote: Any) -> None:
    """Ten steps of datetime ± duration: one flattened sum, not ten nested
    subqueries (SQLite's parser stack holds about five)."""
    expression: Any = F("at")
    for step in range(10):
        delta = datetime.timedelta(seconds=-30 * step, microseconds=7)
        expression = expression + delta if step % 2 else expression - F("span")
    queryset = Moment.objects.order_by("pk").values_list(
        ExpressionWrapper(expression, output_field=models.DateTimeField())
    )
    _assert_same(stock, remote, queryset)


def test_datetime_times_duration_is_a_database_error(remote: Any) -> None:
    """Django's own operand check (DurationExpression.as_sqlite) still runs."""
    queryset = Moment.objects.filter(at=F("at") * datetime.timedelta(0))
    with pytest.raises(DatabaseError, match="Invalid arguments for operator"):
        queryset.query.get_compiler(connection=remote).as_sql()
