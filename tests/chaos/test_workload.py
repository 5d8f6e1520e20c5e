"""The chaos workload on the suite's database: each outcome is classified
as the client saw it, and the classification holds against the database."""

from __future__ import annotations

import asyncio
import random

import pytest

from chaos import verify
from chaos.faults import Canceller
from chaos.models import Account, Transfer
from chaos.workload import (
    ACCOUNTS,
    INITIAL_BALANCE,
    SEED_KEY,
    Ledger,
    transfer,
)
from django_async_backend.db.transaction import async_atomic

pytestmark = pytest.mark.async_django_db(transaction=True)


async def accounts() -> None:
    await Account.objects.abulk_create(
        Account(pk=n, balance=INITIAL_BALANCE) for n in range(1, ACCOUNTS + 1)
    )
    await Transfer.objects.acreate(key=SEED_KEY, source=1, target=1, amount=0)


async def stored_keys() -> set[str]:
    return {key async for key in Transfer.objects.values_list("key", flat=True)}


async def test_a_transfer_commits_and_moves_money():
    await accounts()
    ledger = Ledger()
    operation = await transfer(ledger, random.Random(1), duplicate=True)
    assert operation.outcome == "committed" and operation.error is None
    row = await Transfer.objects.aget(key=operation.key)
    source = await Account.objects.aget(pk=row.source)
    target = await Account.objects.aget(pk=row.target)
    assert source.balance == INITIAL_BALANCE - row.amount
    assert target.balance == INITIAL_BALANCE + row.amount
    assert ledger.counts() == {"committed": 1}


async def test_an_exception_from_the_blocks_exit_is_in_doubt_and_resolved():
    # An on_commit callback that raises: the exit raises after a real commit.
    await accounts()
    ledger = Ledger()

    def fail() -> None:
        raise ConnectionResetError("the answer to COMMIT was lost")

    operation = await transfer(ledger, random.Random(2), after_commit=fail)
    assert operation.outcome == "in_doubt"
    assert operation.error == "builtins.ConnectionResetError"
    assert not operation.error_ok  # not a Django exception: the check says so
    resolution = verify.in_doubt_resolution([operation.key], await stored_keys())
    assert resolution == {"committed": 1, "rolled_back": 0}


async def test_an_injected_cancellation_inside_the_block_fails_it():
    await accounts()
    ledger = Ledger()
    rng = random.Random(3)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold_every_account() -> None:
        async with async_atomic():
            await (
                Account.objects.select_for_update()
                .filter(pk__gt=0)
                .aupdate(balance=INITIAL_BALANCE)
            )
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold_every_account())
    await holding.wait()
    canceller = Canceller(rng, rate=1.0, within=0.2)
    task = canceller.start(transfer(ledger, rng, injected=canceller.injected()))
    operation = await task  # cancelled while waiting for the row locks
    release.set()
    await holder
    assert operation.outcome == "failed"
    assert operation.error == "asyncio.exceptions.CancelledError"
    assert operation.injected and operation.error_ok
    assert operation.key not in await stored_keys()
    check = verify.rolled_back_not_visible([operation.key], await stored_keys())
    assert check.passed
