"""The conformance checks, run inside one contender's client process.

    python -m benchmarks.libsql.checks sync|async     (JSON lines out)

Each check is what ``reference/libsql-facts.md`` found broken in a peer:
transactions that don't roll back or leak, savepoints, swallowed integrity
errors, values that don't round-trip, string primary keys, lost autocommit
writes, missing SQL functions, ``migrate``. The sync path uses Django's sync
ORM (``atomic``, a thread for "another connection"); the async path uses the
a-methods, ``async_atomic`` and ``async_connections.independent_connection()``
(our ENGINE only). Each line is ``{"check", "ok", "reason"}``; a check that
raises is a failure whose reason is the exception.

The checks run in order on one fresh database (the orchestrator starts a new
sqld per contender); each starts by deleting the rows the previous one left.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

UTC = datetime.UTC
# The rows the value checks write and expect back unchanged.
REAL = 3.141592653589793
BLOB = bytes(range(256))
MOMENT = datetime.datetime(2024, 5, 17, 23, 45, 12, 345678, tzinfo=UTC)
DAY = datetime.date(2024, 2, 29)
AMOUNT = Decimal("123456789.012345")
DOCUMENT = {"list": [1, 2.5, "x", None, True], "nested": {"n": 2**53 + 1, "s": "é"}}
UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
BIG = (2**63 - 1, -(2**63), 2**31 + 1)

# (key, row label): the table's rows, in order.
CHECKS: list[tuple[str, str]] = [
    ("migrate", "`migrate` (contenttypes, auth, an app)"),
    ("rollback", "rollback undoes (`atomic()` that raises)"),
    ("isolation", "another connection doesn't see uncommitted rows"),
    ("savepoint", "nested `atomic()`: savepoint rolled back, outer kept"),
    ("integrity", "`IntegrityError` on a UNIQUE violation"),
    ("autocommit", "writes outside `atomic()` persist"),
    ("pk_int", "primary keys are `int`"),
    ("float", "types: float"),
    ("blob", "types: blob (`BinaryField`)"),
    ("datetime", "types: datetime (aware) and date"),
    ("decimal", "types: decimal"),
    ("json", "types: JSON"),
    ("uuid", "types: UUID"),
    ("bool", "types: bool"),
    ("bigint", "big integers (2**63-1, -2**63, 2**31+1)"),
    ("date_lookup", "`__date` lookup"),
    ("extract", "`Extract*` functions"),
    ("trunc", "`Trunc*` functions"),
]


class Failed(Exception):
    """A check's expectation did not hold; the message is the reason."""


class _Boom(Exception):
    """Raised inside a block to make it roll back."""


def expect(condition: bool, reason: str) -> None:
    if not condition:
        raise Failed(reason)


def describe(exc: BaseException) -> str:
    if isinstance(exc, Failed):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:90]}" if text else type(exc).__name__


def emit(key: str, ok: bool, reason: str = "") -> None:
    print(json.dumps({"check": key, "ok": ok, "reason": reason}), flush=True)


def in_thread(function: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run ``function`` on another thread (another Django connection)."""
    from django.db import connections

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:
            box["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise Failed(f"the other connection hung for {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# -- values, shared by both paths ----------------------------------------------


def filtered(count: Callable[[], int]) -> int:
    """``count()``; its failure is the filter's, not the round trip's."""
    try:
        return count()
    except Exception as exc:
        raise Failed(f"filtering on it: {describe(exc)}") from exc


def sample_values() -> dict[str, dict[str, Any]]:
    """The fields each value check writes (one ``Sample`` row per check)."""
    return {
        "float": {"real": REAL},
        "blob": {"blob": BLOB},
        "datetime": {"moment": MOMENT, "day": DAY},
        "decimal": {"amount": AMOUNT},
        "json": {"document": DOCUMENT},
        "uuid": {"uuid": UUID},
    }


def compare_values(key: str, fields: dict[str, Any], row: Any) -> None:
    for name, wanted in fields.items():
        got = getattr(row, name)
        if isinstance(got, memoryview):
            got = bytes(got)
        expect(
            got == wanted and type(got) is type(wanted),
            f"{name}: wrote {wanted!r:.60}, read {got!r:.60}",
        )


def check_extracted(values: dict[str, Any]) -> None:
    wanted = {"x_year": 2024, "x_month": 5, "x_day": 17, "x_hour": 23}
    wanted |= {"x_week_day": 6, "x_quarter": 2}
    wrong = {k: values.get(k) for k in wanted if values.get(k) != wanted[k]}
    expect(not wrong, f"got {wrong}, wanted {({k: wanted[k] for k in wrong})}")


TRUNCATED = {
    "t_month": datetime.datetime(2024, 5, 1, tzinfo=UTC),
    "t_day": datetime.datetime(2024, 5, 17, tzinfo=UTC),
    "t_hour": datetime.datetime(2024, 5, 17, 23, tzinfo=UTC),
    "t_year_of_day": datetime.date(2024, 1, 1),
}


def check_truncated(values: dict[str, Any]) -> None:
    wrong = {k: values.get(k) for k in TRUNCATED if values.get(k) != TRUNCATED[k]}
    expect(not wrong, f"got {wrong!r:.100}")


def function_annotations() -> tuple[dict[str, Any], dict[str, Any]]:
    from django.db.models.functions import (
        ExtractDay,
        ExtractHour,
        ExtractMonth,
        ExtractQuarter,
        ExtractWeekDay,
        ExtractYear,
        TruncDay,
        TruncHour,
        TruncMonth,
        TruncYear,
    )

    extract = {
        "x_year": ExtractYear("moment"),
        "x_month": ExtractMonth("moment"),
        "x_day": ExtractDay("moment"),
        "x_hour": ExtractHour("moment"),
        "x_week_day": ExtractWeekDay("moment"),
        "x_quarter": ExtractQuarter("moment"),
    }
    trunc = {
        "t_month": TruncMonth("moment"),
        "t_day": TruncDay("moment"),
        "t_hour": TruncHour("moment"),
        "t_year_of_day": TruncYear("day"),
    }
    return extract, trunc


# -- the sync path -------------------------------------------------------------


def run_sync() -> None:
    from django.db import IntegrityError, connection, transaction

    from .app.models import Item, Sample

    def reset() -> None:
        Item.objects.all().delete()
        Sample.objects.all().delete()

    def rollback() -> None:
        try:
            with transaction.atomic():
                Item.objects.create(name="rolled back")
                raise _Boom
        except _Boom:
            pass
        rolled_back = Item.objects.filter(name="rolled back")
        expect(
            not rolled_back.exists(), "the row of a rolled-back atomic() is still there"
        )
        expect(
            not in_thread(rolled_back.exists),
            "another connection sees the row of a rolled-back atomic()",
        )

    def isolation() -> None:
        with transaction.atomic():
            Item.objects.create(name="uncommitted")
            seen = in_thread(Item.objects.filter(name="uncommitted").exists)
        expect(not seen, "another connection saw the uncommitted row")
        expect(
            in_thread(Item.objects.filter(name="uncommitted").exists),
            "the committed row is not visible to another connection",
        )

    def savepoint() -> None:
        with transaction.atomic():
            Item.objects.create(name="outer")
            try:
                with transaction.atomic():
                    Item.objects.create(name="inner")
                    raise _Boom
            except _Boom:
                pass
        names = set(
            in_thread(lambda: list(Item.objects.values_list("name", flat=True)))
        )
        expect("inner" not in names, "the rolled-back inner block's row persisted")
        expect("outer" in names, "the outer block's row was lost (not committed)")

    def integrity() -> None:
        Item.objects.create(name="twice")
        try:
            Item.objects.create(name="twice")
        except IntegrityError:
            pass
        except Exception as exc:
            raise Failed(f"{describe(exc)} (not an IntegrityError)") from exc
        else:
            count = Item.objects.filter(name="twice").count()
            raise Failed(f"no error raised ({count} row(s) named 'twice')")

    def autocommit() -> None:
        Item.objects.create(name="autocommit")
        connection.close()
        expect(
            in_thread(Item.objects.filter(name="autocommit").exists),
            "the row is gone once the connection is closed",
        )

    def pk_int() -> None:
        item = Item.objects.create(name="pk")
        read = Item.objects.get(name="pk")
        (listed,) = Item.objects.filter(name="pk").values_list("pk", flat=True)
        kinds = {type(v).__name__ for v in (item.pk, read.pk, listed)}
        expect(kinds == {"int"}, f"primary keys are {'/'.join(sorted(kinds))}")

    def value(key: str) -> Callable[[], None]:
        def check() -> None:
            fields = sample_values()[key]
            row = Sample.objects.create(**fields)
            compare_values(key, fields, Sample.objects.get(pk=row.pk))
            if key != "blob":
                lookup = {name: v for name, v in fields.items()}
                if key == "json":
                    lookup = {"document__nested__s": "é"}
                count = filtered(lambda: Sample.objects.filter(**lookup).count())
                expect(count == 1, f"filtering on the value finds {count} rows")

        return check

    def booleans() -> None:
        Sample.objects.create(flag=True)
        Sample.objects.create(flag=False)
        got = sorted(Sample.objects.values_list("flag", flat=True), key=str)
        expect(got == [False, True], f"read {got}")
        expect(Sample.objects.filter(flag=True).count() == 1, "flag=True finds !=1")

    def bigint() -> None:
        for number in BIG:
            row = Sample.objects.create(big=number)
            got = Sample.objects.get(pk=row.pk).big
            expect(got == number, f"wrote {number}, read {got!r}")
            count = Sample.objects.filter(big=number).count()
            expect(count == 1, f"filter(big={number}) finds {count} rows")

    def date_lookup() -> None:
        Sample.objects.create(moment=MOMENT)
        count = Sample.objects.filter(moment__date=MOMENT.date()).count()
        expect(count == 1, f"filter(moment__date=...) finds {count} rows")

    def extract() -> None:
        Sample.objects.create(moment=MOMENT)
        check_extracted(
            Sample.objects.annotate(**function_annotations()[0]).values()[0]
        )

    def trunc() -> None:
        Sample.objects.create(moment=MOMENT, day=DAY)
        check_truncated(
            Sample.objects.annotate(**function_annotations()[1]).values()[0]
        )

    checks: dict[str, Callable[[], None]] = {
        "rollback": rollback,
        "isolation": isolation,
        "savepoint": savepoint,
        "integrity": integrity,
        "autocommit": autocommit,
        "pk_int": pk_int,
        **{key: value(key) for key in sample_values()},
        "bool": booleans,
        "bigint": bigint,
        "date_lookup": date_lookup,
        "extract": extract,
        "trunc": trunc,
    }
    for key, _ in CHECKS[1:]:
        try:
            reset()
            checks[key]()
        except Exception as exc:
            emit(key, False, describe(exc))
            # What a failure left on the connection (an open transaction, a
            # broken stream) must not fail the next check too.
            connection.close()
        else:
            emit(key, True)


# -- the async path (our ENGINE) -----------------------------------------------


async def run_async() -> None:
    from django.db import IntegrityError

    from django_async_backend.db import async_connections
    from django_async_backend.db.transaction import async_atomic

    from .app.models import Item, Sample

    async def elsewhere(work: Callable[[], Awaitable[Any]]) -> Any:
        async with async_connections.independent_connection():
            return await asyncio.wait_for(work(), 20)

    async def names_committed() -> list[str]:
        return [n async for n in Item.objects.values_list("name", flat=True)]

    async def reset() -> None:
        await Item.objects.all().adelete()
        await Sample.objects.all().adelete()

    async def rollback() -> None:
        try:
            async with async_atomic():
                await Item.objects.acreate(name="rolled back")
                raise _Boom
        except _Boom:
            pass
        rolled_back = Item.objects.filter(name="rolled back")
        expect(
            not await rolled_back.aexists(),
            "the row of a rolled-back async_atomic() is still there",
        )
        expect(
            not await elsewhere(rolled_back.aexists),
            "another connection sees the row of a rolled-back async_atomic()",
        )

    async def isolation() -> None:
        uncommitted = Item.objects.filter(name="uncommitted")
        async with async_atomic():
            await Item.objects.acreate(name="uncommitted")
            seen = await elsewhere(uncommitted.aexists)
        expect(not seen, "another connection saw the uncommitted row")
        expect(
            await elsewhere(uncommitted.aexists),
            "the committed row is not visible to another connection",
        )

    async def savepoint() -> None:
        async with async_atomic():
            await Item.objects.acreate(name="outer")
            try:
                async with async_atomic():
                    await Item.objects.acreate(name="inner")
                    raise _Boom
            except _Boom:
                pass
        names = set(await elsewhere(names_committed))
        expect("inner" not in names, "the rolled-back inner block's row persisted")
        expect("outer" in names, "the outer block's row was lost (not committed)")

    async def integrity() -> None:
        await Item.objects.acreate(name="twice")
        try:
            await Item.objects.acreate(name="twice")
        except IntegrityError:
            pass
        except Exception as exc:
            raise Failed(f"{describe(exc)} (not an IntegrityError)") from exc
        else:
            count = await Item.objects.filter(name="twice").acount()
            raise Failed(f"no error raised ({count} row(s) named 'twice')")

    async def autocommit() -> None:
        await Item.objects.acreate(name="autocommit")
        await async_connections["default"].close()
        expect(
            await elsewhere(Item.objects.filter(name="autocommit").aexists),
            "the row is gone once the connection is closed",
        )

    async def pk_int() -> None:
        item = await Item.objects.acreate(name="pk")
        read = await Item.objects.aget(name="pk")
        listed = [
            pk
            async for pk in Item.objects.filter(name="pk").values_list("pk", flat=True)
        ]
        kinds = {type(v).__name__ for v in (item.pk, read.pk, *listed)}
        expect(kinds == {"int"}, f"primary keys are {'/'.join(sorted(kinds))}")

    def value(key: str) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            fields = sample_values()[key]
            row = await Sample.objects.acreate(**fields)
            compare_values(key, fields, await Sample.objects.aget(pk=row.pk))
            if key != "blob":
                lookup = dict(fields)
                if key == "json":
                    lookup = {"document__nested__s": "é"}
                try:
                    count = await Sample.objects.filter(**lookup).acount()
                except Exception as exc:
                    raise Failed(f"filtering on it: {describe(exc)}") from exc
                expect(count == 1, f"filtering on the value finds {count} rows")

        return check

    async def booleans() -> None:
        await Sample.objects.acreate(flag=True)
        await Sample.objects.acreate(flag=False)
        got = sorted(
            [f async for f in Sample.objects.values_list("flag", flat=True)], key=str
        )
        expect(got == [False, True], f"read {got}")
        count = await Sample.objects.filter(flag=True).acount()
        expect(count == 1, "flag=True finds !=1")

    async def bigint() -> None:
        for number in BIG:
            row = await Sample.objects.acreate(big=number)
            got = (await Sample.objects.aget(pk=row.pk)).big
            expect(got == number, f"wrote {number}, read {got!r}")
            count = await Sample.objects.filter(big=number).acount()
            expect(count == 1, f"filter(big={number}) finds {count} rows")

    async def date_lookup() -> None:
        await Sample.objects.acreate(moment=MOMENT)
        count = await Sample.objects.filter(moment__date=MOMENT.date()).acount()
        expect(count == 1, f"filter(moment__date=...) finds {count} rows")

    async def extract() -> None:
        await Sample.objects.acreate(moment=MOMENT)
        values = (
            await Sample.objects.annotate(**function_annotations()[0]).values().afirst()
        )
        check_extracted(values or {})

    async def trunc() -> None:
        await Sample.objects.acreate(moment=MOMENT, day=DAY)
        values = (
            await Sample.objects.annotate(**function_annotations()[1]).values().afirst()
        )
        check_truncated(values or {})

    checks: dict[str, Callable[[], Awaitable[None]]] = {
        "rollback": rollback,
        "isolation": isolation,
        "savepoint": savepoint,
        "integrity": integrity,
        "autocommit": autocommit,
        "pk_int": pk_int,
        **{key: value(key) for key in sample_values()},
        "bool": booleans,
        "bigint": bigint,
        "date_lookup": date_lookup,
        "extract": extract,
        "trunc": trunc,
    }
    for key, _ in CHECKS[1:]:
        # Each check is its own task, as a request would be: its connection
        # goes back when it ends, whatever state a failure left.
        async def one(key: str = key) -> None:
            await reset()
            await checks[key]()

        try:
            await asyncio.wait_for(asyncio.ensure_future(one()), 60)
        except Exception as exc:
            emit(key, False, describe(exc))
        else:
            emit(key, True)


# -- the process ---------------------------------------------------------------


def migrate() -> None:
    """Migrate the fresh database; if that fails, create the checks' tables."""
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0, interactive=False)
    except Exception as exc:
        emit("migrate", False, describe(exc))
        connection.close()
        from .app.models import Item, Sample

        existing = set(connection.introspection.table_names())
        with connection.schema_editor() as editor:
            for model in (Item, Sample):
                if model._meta.db_table not in existing:
                    editor.create_model(model)
    else:
        emit("migrate", True)
    connection.close()


def main(argv: list[str]) -> None:
    (path,) = argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.libsql.settings")
    import django

    django.setup()
    migrate()
    if path == "async":
        asyncio.run(run_async())
    else:
        run_sync()


if __name__ == "__main__":
    main(sys.argv[1:])
