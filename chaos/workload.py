"""Bank transfers, and the ledger of what each one did as the client saw it.

A transfer moves an amount between two accounts in one ``async_atomic``
block: both rows locked with ``select_for_update``, one balance changed by the
ORM and the other by raw SQL, its own row (with a unique key) inserted; now
and then it first inserts a duplicate key in a savepoint and carries on after
the ``IntegrityError`` (issue 13's SQLite bug needed exactly that). The
ledger records, per transfer, how it ended for the client:

``committed``
    the block exited normally;
``failed``
    an exception was raised before the block's body finished (so the block
    rolled back);
``in_doubt``
    the body finished and the exception came from the block's exit, that is
    from the commit itself: it may have committed (see the README's
    "In-doubt commits and idempotency").

The key makes the outcome checkable afterwards: a transfer committed if and
only if its row exists.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError
from django.db.models import F

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic, on_commit

from .models import Account, Transfer

__all__ = [
    "ACCOUNTS",
    "INITIAL_BALANCE",
    "SEED_KEY",
    "Ledger",
    "Operation",
    "create_schema",
    "error_name",
    "transfer",
]

ACCOUNTS = 50
INITIAL_BALANCE = 1_000
SEED_KEY = "seed"  # a transfer row present from the start: duplicates hit it


@dataclass
class Operation:
    """One operation of the workload, as the client saw it."""

    kind: str  # "transfer", "burst" or "probe"
    key: str
    outcome: str  # "committed", "failed", "in_doubt" ("ok" for others)
    started: float
    finished: float
    error: str | None = None  # the exception's class, module-qualified
    injected: bool = False  # cancelled by the fault injector
    error_ok: bool = True  # a class the workload may see (see error_name)

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class Ledger:
    """Every operation of a run, or (``keep=False``, the soak) only those
    worth looking at again: a soak must not grow with its own records.

    Either way the counts, the errors and the latency figures cover every
    operation, and each transfer's key waits in :attr:`unchecked` until it
    is checked against the database (see ``chaos.run``), then is dropped.
    """

    keep: bool = True
    operations: list[Operation] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    error_counts: Counter[str] = field(default_factory=Counter)
    max_seconds: float = 0.0
    latency_sample: list[float] = field(default_factory=list)
    seen: int = 0
    unchecked: dict[str, list[str]] = field(
        default_factory=lambda: {"committed": [], "failed": [], "in_doubt": []}
    )

    SAMPLE = 20_000  # latencies kept for the p99 (a uniform sample)
    SLOW = 1.0  # seconds: slower operations are always kept

    def add(self, operation: Operation) -> None:
        self.seen += 1
        if operation.kind == "transfer":
            self.outcomes[operation.outcome] += 1
            self.unchecked[operation.outcome].append(operation.key)
        if operation.error:
            self.error_counts[operation.error] += 1
        seconds = operation.seconds
        self.max_seconds = max(self.max_seconds, seconds)
        if len(self.latency_sample) < self.SAMPLE:
            self.latency_sample.append(seconds)
        else:
            slot = random.randrange(self.seen)
            if slot < self.SAMPLE:
                self.latency_sample[slot] = seconds
        if (
            self.keep
            or operation.outcome not in ("committed", "ok")
            or operation.error
            or seconds > self.SLOW
        ):
            self.operations.append(operation)

    def transfers(self, outcome: str | None = None) -> list[Operation]:
        return [
            op
            for op in self.operations
            if op.kind == "transfer" and (outcome is None or op.outcome == outcome)
        ]

    def counts(self) -> dict[str, int]:
        return dict(self.outcomes)

    def errors(self) -> dict[str, int]:
        return dict(self.error_counts)

    def p99(self) -> float:
        ordered = sorted(self.latency_sample)
        return ordered[int(len(ordered) * 0.99)] if ordered else 0.0

    def take_unchecked(self, *outcomes: str) -> dict[str, list[str]]:
        """The keys not checked yet (for these outcomes), now forgotten."""
        taken = {}
        for outcome in outcomes:
            taken[outcome], self.unchecked[outcome] = self.unchecked[outcome], []
        return taken


def error_name(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def allowed_error(exc: BaseException, injected: bool) -> bool:
    """Whether the workload may see ``exc``: Django's database exceptions,
    or a cancellation the injector made."""
    from django.db import Error

    if isinstance(exc, asyncio.CancelledError):
        return injected
    return isinstance(exc, Error) and type(exc).__module__.startswith("django.")


async def transfer(
    ledger: Ledger,
    rng: random.Random,
    *,
    duplicate: bool = False,
    after_commit: Callable[[], Any] | None = None,
    injected: Callable[[], bool] = lambda: False,
) -> Operation:
    """One transfer; recorded in ``ledger`` however it ends.

    ``after_commit`` is registered with ``on_commit``: one that raises makes
    the block's exit raise after a real commit (an in-doubt outcome the
    tests can produce at will). ``injected()`` says whether a cancellation
    came from the fault injector.
    """
    key = uuid.uuid4().hex
    source, target = rng.sample(range(1, ACCOUNTS + 1), 2)
    amount = rng.randint(1, 50)
    table = Account._meta.db_table
    body_done = False
    started = time.monotonic()
    try:
        async with async_atomic():
            locked = Account.objects.select_for_update().filter(pk__in=(source, target))
            assert len([row async for row in locked.order_by("pk")]) == 2
            await Account.objects.filter(pk=source).aupdate(
                balance=F("balance") - amount
            )
            async with async_connections["default"].cursor() as cursor:
                await cursor.execute(
                    f"UPDATE {table} SET balance = balance + %s WHERE id = %s",
                    [amount, target],
                )
            if duplicate:
                try:
                    async with async_atomic():
                        await Transfer.objects.acreate(
                            key=SEED_KEY, source=source, target=target, amount=0
                        )
                except IntegrityError:
                    pass
            await Transfer.objects.acreate(
                key=key, source=source, target=target, amount=amount
            )
            if after_commit is not None:
                await on_commit(after_commit)
            body_done = True
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        was_injected = isinstance(exc, asyncio.CancelledError) and injected()
        operation = Operation(
            "transfer",
            key,
            "in_doubt" if body_done else "failed",
            started,
            time.monotonic(),
            error_name(exc),
            was_injected,
            allowed_error(exc, was_injected),
        )
    else:
        operation = Operation("transfer", key, "committed", started, time.monotonic())
    ledger.add(operation)
    return operation


def create_schema() -> None:
    """Create the tables and the accounts (sync: before the loop starts)."""
    from django.db import connection

    with connection.schema_editor() as editor:
        for model in (Account, Transfer):
            editor.create_model(model)
    Account.objects.bulk_create(
        Account(pk=n, balance=INITIAL_BALANCE) for n in range(1, ACCOUNTS + 1)
    )
    Transfer.objects.create(key=SEED_KEY, source=1, target=1, amount=0)
    connection.close()
    # Django's own (sync) pool, when OPTIONS["pool"] is set: the run counts
    # the server's connections, so leave none of it behind.
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()
