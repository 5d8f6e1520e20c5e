"""Compare passes test by test and write RESULTS.md and results.json."""

from __future__ import annotations

import collections
import datetime
import json
from pathlib import Path
from typing import Any

from .deliberate import DELIBERATE, HOP_NOTES
from .passes import PassResult

__all__ = ["compare", "write_results"]

_GOOD = {"passed", "expected_failure"}
_BAD = {"failed", "error", "unexpected_success"}


def compare(stock: PassResult, other: PassResult) -> list[dict[str, str]]:
    """Tests that pass on stock but fail, error or never ran on ``other``."""
    regressions = []
    ran_all = other.complete
    for test, outcome in sorted(other.outcomes.items()):
        if stock.outcomes.get(test) in _GOOD and outcome in _BAD:
            regressions.append(
                {
                    "pass": other.name,
                    "test": test,
                    "stock": stock.outcomes[test],
                    "outcome": outcome,
                    "detail": other.details.get(test, ""),
                }
            )
    if not ran_all:
        # A pass that crashed or timed out: what it never reached counts too.
        wanted = {label.split(".")[0] for label in other.labels}
        for test, outcome in sorted(stock.outcomes.items()):
            if (
                outcome in _GOOD
                and test not in other.outcomes
                and (not wanted or test.split(".")[0] in wanted)
            ):
                regressions.append(
                    {
                        "pass": other.name,
                        "test": test,
                        "stock": outcome,
                        "outcome": "not run",
                        "detail": "",
                    }
                )
    return regressions


def _count_line(label: str, result: PassResult) -> str:
    c = result.counts()
    return (
        f"{label}: {c['tests']} tests, {c['passed']} passed, {c['failed']} failed, "
        f"{c['error']} errors, {c['skipped']} skipped"
    )


def _minutes(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def hop_note(hop: dict[str, str]) -> str | None:
    """Why a hop of the native pass is there (``HOP_NOTES``), or None."""
    for key, note in HOP_NOTES.items():
        function, _, test = key.partition(" in ")
        if hop["function"].startswith(function) and hop["test"].startswith(test):
            return note
    return None


def unexplained_hops(result: PassResult) -> list[dict[str, str]]:
    return [hop for hop in result.hops if hop_note(hop) is None]


def _hops_table(result: PassResult) -> collections.Counter[tuple[str, str]]:
    return collections.Counter(
        (hop["function"], hop_note(hop) or "**unexplained**") for hop in result.hops
    )


def _pass_json(result: PassResult) -> dict[str, Any]:
    counts = result.counts()
    hops = collections.Counter(hop["function"] for hop in result.hops)
    unexplained = unexplained_hops(result)
    return {
        "labels": result.labels,
        "command": " ".join(result.command[1:]),
        "planned": result.planned,
        "tests_run": result.tests_run,
        "tests": counts["tests"],
        "passed": counts["passed"],
        "failed": counts["failed"],
        "errors": counts["error"],
        "skipped": counts["skipped"],
        "expected_failures": counts["expected_failure"],
        "unexpected_successes": counts["unexpected_success"],
        "seconds": round(result.seconds, 1),
        "timed_out": result.timed_out,
        "complete": result.complete,
        "returncode": result.returncode,
        "thread_hops": len(result.hops),
        "thread_hops_by_function": dict(hops.most_common()),
        "unexplained_thread_hops": unexplained,
        "failing": {
            test: outcome
            for test, outcome in sorted(result.outcomes.items())
            if outcome in _BAD
        },
    }


def write_results(
    directory: Path,
    *,
    mode: str,
    command: str,
    versions: dict[str, str],
    passes: dict[str, PassResult],
    regressions: list[dict[str, str]],
    deliberate: list[dict[str, str]],
) -> None:
    """Write ``RESULTS.md`` and ``results.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = {
        "date": now,
        "mode": mode,
        "command": command,
        "versions": versions,
        "passes": {name: _pass_json(result) for name, result in passes.items()},
        "regressions": regressions,
        "deliberate_differences": deliberate,
    }
    (directory / "results.json").write_text(json.dumps(data, indent=2) + "\n")

    labels = {"ours": "ours", "stock": "stock", "native": "native async"}
    lines = [
        f"# Django's test suite on django_async_backend ({mode} mode)",
        "",
        f"* Date: {now}",
        f"* Command: `{command}`",
        "* Versions: "
        + ", ".join(f"{name} {version}" for name, version in versions.items()),
        "",
        "## Counts",
        "",
        "```",
    ]
    lines += [_count_line(labels[name], result) for name, result in passes.items()]
    lines += [f"regressions: {len(regressions)}", "```", ""]
    lines += [
        "| pass | tests | passed | failed | errors | skipped | expected failures "
        "| unexpected successes | time | complete |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in passes.items():
        c = result.counts()
        complete = (
            "yes" if result.complete else ("TIMED OUT" if result.timed_out else "no")
        )
        lines.append(
            f"| {labels[name]} | {c['tests']} | {c['passed']} | {c['failed']} "
            f"| {c['error']} | {c['skipped']} | {c['expected_failure']} "
            f"| {c['unexpected_success']} | {_minutes(result.seconds)} | {complete} |"
        )
    lines.append("")
    for name, result in passes.items():
        lines.append(f"* {labels[name]}: `runtests.py {' '.join(result.command[2:])}`")
    lines.append("")
    if "native" in passes:
        native = passes["native"]
        table = _hops_table(native)
        lines += [
            "## Thread hops in the native pass",
            "",
            f"`sync_to_async` calls that ran a query: {len(native.hops)} "
            f"({len(unexplained_hops(native))} unexplained).",
            "",
        ]
        if table:
            lines += ["| function that hopped | hops | why |", "|---|---|---|"]
            lines += [
                f"| `{func}` | {count} | {note} |"
                for (func, note), count in table.most_common()
            ]
            lines.append("")
    lines += ["## Regressions (pass on stock, fail on ours)", ""]
    if regressions:
        for item in regressions:
            lines.append(f"* [{item['pass']}] `{item['test']}`: {item['outcome']}")
    else:
        lines.append("None.")
    lines += ["", "## Deliberate differences", ""]
    if deliberate:
        for item in deliberate:
            lines.append(f"* [{item['pass']}] `{item['test']}`: {item['reason']}")
    else:
        lines.append("None.")
    for name, result in passes.items():
        failing = sorted(t for t, o in result.outcomes.items() if o in _BAD)
        lines += ["", f"## Failing on {labels[name]} ({len(failing)})", ""]
        lines += [f"* `{test}`: {result.outcomes[test]}" for test in failing] or [
            "None."
        ]
    (directory / "RESULTS.md").write_text("\n".join(lines) + "\n")


def split_deliberate(
    regressions: list[dict[str, str]],
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(regressions, deliberate differences) by :data:`DELIBERATE`."""
    kept, deliberate = [], []
    for item in regressions:
        reason = DELIBERATE.get(item["test"])
        if reason is None:
            kept.append(item)
        else:
            deliberate.append({**item, "reason": reason})
    return kept, deliberate
