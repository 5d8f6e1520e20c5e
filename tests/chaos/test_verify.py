"""Each verification of the chaos suite passes on good data and fails on
data that breaks it."""

from __future__ import annotations

import pytest

from chaos import verify
from chaos.workload import Operation


def op(kind="transfer", outcome="committed", seconds=0.1, error=None, ok=True):
    return Operation(kind, "k", outcome, 0.0, seconds, error, False, ok)


def test_committed_not_lost():
    assert verify.committed_not_lost(["a", "b"], {"a", "b", "c"}).passed
    check = verify.committed_not_lost(["a", "b"], {"a"})
    assert not check.passed and "1 lost: b" in check.detail


def test_rolled_back_not_visible():
    assert verify.rolled_back_not_visible(["x"], {"a"}).passed
    check = verify.rolled_back_not_visible(["x", "a"], {"a"})
    assert not check.passed and "1 visible: a" in check.detail


def test_in_doubt_resolution_reads_the_database():
    assert verify.in_doubt_resolution(["a", "x"], {"a"}) == {
        "committed": 1,
        "rolled_back": 1,
    }


def test_invariant_totals():
    balances = {1: 90, 2: 110}
    assert verify.invariant_totals(
        balances, [(1, 2, 10)], accounts=2, initial=100
    ).passed
    # Money made: a transfer applied to one side only.
    check = verify.invariant_totals(
        {1: 100, 2: 110}, [(1, 2, 10)], accounts=2, initial=100
    )
    assert not check.passed and "total 210" in check.detail
    # Totals right, but a committed transfer missing its balance changes.
    check = verify.invariant_totals(balances, [], accounts=2, initial=100)
    assert not check.passed and "2 balances unexplained" in check.detail
    # An account lost.
    assert not verify.invariant_totals({1: 200}, [], accounts=2, initial=100).passed


def test_connections_closed():
    assert verify.connections_closed(0).passed
    assert not verify.connections_closed(3).passed


def test_latencies_bounded():
    assert verify.latencies_bounded([op(seconds=1.0)], 5).passed
    check = verify.latencies_bounded([op(seconds=1.0), op(seconds=6.0)], 5)
    assert not check.passed and "max 6.00 s" in check.detail


def test_only_expected_errors():
    fine = op(outcome="failed", error="django.db.utils.OperationalError")
    assert verify.only_expected_errors([op(), fine]).passed
    foreign = op(outcome="failed", error="psycopg.OperationalError", ok=False)
    check = verify.only_expected_errors([fine, foreign])
    assert not check.passed and "psycopg.OperationalError" in check.detail


def test_allowed_errors_are_djangos_or_injected_cancellations():
    import asyncio

    import psycopg
    from django.db import OperationalError

    from chaos.workload import allowed_error

    assert allowed_error(OperationalError("x"), injected=False)
    assert not allowed_error(psycopg.OperationalError("x"), injected=False)
    assert not allowed_error(RuntimeError("x"), injected=False)
    assert allowed_error(asyncio.CancelledError(), injected=True)
    assert not allowed_error(asyncio.CancelledError(), injected=False)


def test_recovery_times_and_recovered():
    ops = [
        Operation("transfer", "a", "committed", 9.0, 9.5),  # before the restart
        Operation("transfer", "b", "failed", 10.5, 10.6),
        Operation("transfer", "c", "committed", 11.0, 12.0),
    ]
    times = verify.recovery_times([10.0, 20.0], ops)
    assert times == [2.0, None]
    assert verify.recovered([2.0], 10).passed
    assert not verify.recovered(times, 10).passed  # never after the 2nd
    assert not verify.recovered([12.0], 10).passed  # too slow
    assert not verify.recovered([], 10).passed  # no restart: nothing shown


def test_idle_app_served():
    assert verify.idle_app_served([True, True]).passed
    assert not verify.idle_app_served([False, True]).passed
    assert not verify.idle_app_served([]).passed


@pytest.mark.parametrize(
    "samples, passed",
    [
        ([50, 60, 61, 60, 61, 60, 61, 61, 60, 61, 61, 61], True),  # flat
        ([50, 60, 61, 60, 61, 62, 64, 66, 68, 70, 72, 74], False),  # a leak
        ([1, 2, 3], False),  # too few samples to tell
    ],
)
def test_flat(samples, passed):
    assert verify.flat("rss", samples, tolerance=2.0).passed is passed


def test_a_ledger_that_keeps_little_still_counts_everything():
    from chaos.workload import Ledger

    ledger = Ledger(keep=False)
    for n in range(1000):
        ledger.add(Operation("transfer", f"k{n}", "committed", 0.0, 0.01))
    ledger.add(Operation("transfer", "slow", "committed", 0.0, 30.0))
    ledger.add(Operation("transfer", "x", "failed", 0.0, 0.1, "e.E", False, False))
    assert [op.key for op in ledger.operations] == ["slow", "x"]  # kept: worth it
    assert ledger.counts() == {"committed": 1001, "failed": 1}
    assert ledger.max_seconds == 30.0 and ledger.errors() == {"e.E": 1}
    assert not verify.latencies_bounded(
        ledger.operations, 13, ledger.max_seconds
    ).passed
    taken = ledger.take_unchecked("committed")
    assert len(taken["committed"]) == 1001 and ledger.unchecked["committed"] == []
