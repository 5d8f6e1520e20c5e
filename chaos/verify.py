"""What a chaos run must show, as checks on plain data.

Each function takes what the run observed (the ledger's operations, and what
was read back from the database directly) and returns a :class:`Check`. They
know nothing of how the data was gathered, so ``tests/chaos/test_verify.py``
shows each one failing on data that breaks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .workload import Operation

__all__ = [
    "Check",
    "committed_not_lost",
    "connections_closed",
    "flat",
    "idle_app_served",
    "in_doubt_resolution",
    "invariant_totals",
    "latencies_bounded",
    "only_expected_errors",
    "recovered",
    "recovery_times",
    "rolled_back_not_visible",
]


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def _some(items: Iterable[object], limit: int = 3) -> str:
    items = list(items)
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def committed_not_lost(committed: Iterable[str], stored: set[str]) -> Check:
    """Every transfer the client saw commit is in the database."""
    lost = [key for key in committed if key not in stored]
    return Check(
        "committed transfers all present",
        not lost,
        f"{len(lost)} lost: {_some(lost)}" if lost else "0 lost",
    )


def rolled_back_not_visible(failed: Iterable[str], stored: set[str]) -> Check:
    """No transfer the client saw fail left its row behind."""
    visible = [key for key in failed if key in stored]
    return Check(
        "failed transfers all absent",
        not visible,
        f"{len(visible)} visible: {_some(visible)}" if visible else "0 visible",
    )


def in_doubt_resolution(in_doubt: Iterable[str], stored: set[str]) -> dict[str, int]:
    """How the in-doubt transfers actually ended, read from the database."""
    keys = list(in_doubt)
    committed = sum(key in stored for key in keys)
    return {"committed": committed, "rolled_back": len(keys) - committed}


def invariant_totals(
    balances: Mapping[int, int],
    transfers: Iterable[tuple[int, int, int]],
    *,
    accounts: int,
    initial: int,
) -> Check:
    """Money is neither made nor lost, and every balance is explained by the
    stored transfers (a half-applied transfer shows here)."""
    problems = []
    total = sum(balances.values())
    if len(balances) != accounts:
        problems.append(f"{len(balances)} accounts, not {accounts}")
    if total != accounts * initial:
        problems.append(f"total {total}, not {accounts * initial}")
    expected = {account: initial for account in balances}
    for source, target, amount in transfers:
        expected[source] = expected.get(source, initial) - amount
        expected[target] = expected.get(target, initial) + amount
    wrong = [
        f"#{account}: {balances.get(account)} != {value}"
        for account, value in sorted(expected.items())
        if balances.get(account) != value
    ]
    if wrong:
        problems.append(f"{len(wrong)} balances unexplained: {_some(wrong)}")
    return Check(
        "totals invariant, balances match the transfers",
        not problems,
        "; ".join(problems) or f"total {total} over {len(balances)} accounts",
    )


def connections_closed(left: int) -> Check:
    """Nothing is left connected after ``close_pools()``."""
    return Check(
        "0 connections after close_pools()", left == 0, f"{left} left connected"
    )


def latencies_bounded(
    operations: Sequence[Operation], bound: float, worst: float | None = None
) -> Check:
    """Every operation finished or raised within ``bound`` seconds.

    ``operations`` must hold at least every slow one; ``worst`` is the
    slowest of all, when the caller kept only some."""
    slow = [op for op in operations if op.seconds > bound]
    if worst is None:
        worst = max((op.seconds for op in operations), default=0.0)
    detail = f"max {worst:.2f} s"
    if slow:
        examples = _some(f"{op.kind} {op.seconds:.1f}s {op.error}" for op in slow)
        detail += f"; {len(slow)} slower: {examples}"
    return Check(f"every operation ended within {bound:g} s", not slow, detail)


def only_expected_errors(operations: Sequence[Operation]) -> Check:
    """Only Django's exception classes, or the injected cancellations."""
    foreign = sorted({op.error or "" for op in operations if not op.error_ok})
    return Check(
        "only Django's exceptions (and injected cancellations)",
        not foreign,
        f"foreign: {_some(foreign)}" if foreign else "none foreign",
    )


def recovery_times(
    restarts: Sequence[float], operations: Sequence[Operation]
) -> list[float | None]:
    """Seconds from each restart's end to the first transfer that then
    started and committed (None: none did)."""
    committed = sorted(
        (op.started, op.finished)
        for op in operations
        if op.kind == "transfer" and op.outcome == "committed"
    )
    times: list[float | None] = []
    for up_at in restarts:
        after = [finished for started, finished in committed if started >= up_at]
        times.append(min(after) - up_at if after else None)
    return times


def recovered(times: Sequence[float | None], bound: float) -> Check:
    """Transfers commit again within ``bound`` seconds of every restart."""
    bad = [t for t in times if t is None or t > bound]
    shown = ", ".join("never" if t is None else f"{t:.2f}s" for t in times)
    return Check(
        f"recovered within {bound:g} s of each restart",
        bool(times) and not bad,
        f"recovery: {shown or 'no restarts'}",
    )


def idle_app_served(first_requests: Sequence[bool]) -> Check:
    """An idle app's first requests after a restart all succeed."""
    failed = first_requests.count(False)
    return Check(
        "idle app: first requests after a restart succeed",
        bool(first_requests) and not failed,
        f"{len(first_requests) - failed} of {len(first_requests)} succeeded",
    )


def flat(
    name: str,
    samples: Sequence[float],
    *,
    tolerance: float,
    relative: float = 0.0,
) -> Check:
    """A sampled figure is flat at the end: the last quarter's peak is no
    more than ``tolerance`` (plus ``relative`` of it) above the second
    quarter's peak (the first quarter is warm-up)."""
    if len(samples) < 8:
        return Check(f"{name} flat", False, f"only {len(samples)} samples")
    quarter = len(samples) // 4
    early = max(samples[quarter : 2 * quarter])
    late = max(samples[-quarter:])
    limit = early + tolerance + relative * early
    return Check(
        f"{name} flat at the end",
        late <= limit,
        f"peak {early:g} in the 2nd quarter, {late:g} in the last (limit {limit:g})",
    )
