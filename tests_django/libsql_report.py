"""The libSQL pass against the SQLite pass: differences, RESULTS-libsql.md."""

from __future__ import annotations

import collections
import datetime
import json
from pathlib import Path
from typing import Any

from .libsql_differences import EXPLAINED
from .passes import PassResult
from .report import _count_line, _minutes, _pass_json, compare

__all__ = ["differences", "write_results"]

_GOOD = {"passed", "expected_failure"}
_BAD = {"failed", "error", "unexpected_success"}


def reason_for(test: str) -> str | None:
    """The longest ``EXPLAINED`` prefix of ``test``'s reason, or None."""
    matches = [prefix for prefix in EXPLAINED if test.startswith(prefix)]
    return EXPLAINED[max(matches, key=len)] if matches else None


def differences(sqlite: PassResult, libsql: PassResult) -> dict[str, Any]:
    """Every test whose outcome differs, sorted into the report's groups."""
    explained, unexplained = [], []
    for item in compare(sqlite, libsql):
        reason = reason_for(item["test"])
        if reason is None:
            unexplained.append(item)
        else:
            explained.append({**item, "reason": reason})
    skipped: collections.Counter[str] = collections.Counter()
    for test, outcome in libsql.outcomes.items():
        if outcome == "skipped" and sqlite.outcomes.get(test) in _GOOD:
            detail = libsql.details.get(test, "").strip() or "(no reason given)"
            skipped[detail.splitlines()[0][:200]] += 1
    better = sorted(
        test
        for test, outcome in libsql.outcomes.items()
        if outcome in _GOOD and sqlite.outcomes.get(test) in _BAD
    )
    return {
        "explained": explained,
        "unexplained": unexplained,
        "skipped_only_on_libsql": dict(skipped.most_common()),
        "better_on_libsql": better,
    }


def write_results(
    directory: Path,
    stem: str,
    *,
    mode: str,
    command: str,
    versions: dict[str, str],
    passes: dict[str, PassResult],
    found: dict[str, Any],
) -> Path:
    """Write ``<stem>.md`` and ``<stem>.json`` (lower-cased) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = {
        "date": now, "mode": mode, "command": command, "versions": versions,
        "passes": {name: _pass_json(result) for name, result in passes.items()},
        **found,
    }  # fmt: skip
    (directory / f"{stem.lower()}.json").write_text(json.dumps(data, indent=2) + "\n")
    labels = {"sqlite": "stock sqlite", "libsql": "libsql"}
    lines = [
        f"# Django's test suite on the libSQL ENGINE ({mode} mode)",
        "",
        f"* Date: {now}",
        f"* Command: `{command}`",
        "* Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "* Passes: Django's SQLite backend (in-memory test databases) and our "
        "libSQL ENGINE in remote mode on a local sqld (a namespace per test "
        "database), the same labels, `--parallel 1` (a server cannot clone "
        "databases).",
        "",
        "## Counts",
        "",
        "```",
        *(_count_line(labels[name], result) for name, result in passes.items()),
        f"differences: {len(found['explained']) + len(found['unexplained'])} "
        f"({len(found['unexplained'])} unexplained, "
        f"{sum('Known gap' in i['reason'] for i in found['explained'])} known gaps)",
        "```",
        "",
        "| pass | tests | passed | failed | errors | skipped | expected failures "
        "| unexpected successes | time | complete |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in passes.items():
        c = result.counts()
        complete = "yes" if result.complete else (
            "TIMED OUT" if result.timed_out else "no")  # fmt: skip
        lines.append(
            f"| {labels[name]} | {c['tests']} | {c['passed']} | {c['failed']} "
            f"| {c['error']} | {c['skipped']} | {c['expected_failure']} "
            f"| {c['unexpected_success']} | {_minutes(result.seconds)} | {complete} |"
        )
    lines.append("")
    for name, result in passes.items():
        lines.append(f"* {labels[name]}: `runtests.py {' '.join(result.command[2:])}`")
    lines += ["", "## Differences (pass on SQLite, fail on libSQL)", ""]
    lines += ["### Unexplained", ""]
    lines += [
        f"* `{item['test']}`: {item['outcome']}" for item in found["unexplained"]
    ] or ["None."]
    lines += ["", "### Explained (`tests_django/libsql_differences.py`)", ""]
    by_reason: dict[str, list[str]] = collections.defaultdict(list)
    for item in found["explained"]:
        by_reason[item["reason"]].append(f"`{item['test']}` ({item['outcome']})")
    for reason, tests in by_reason.items():
        lines += [f"* {reason} ({len(tests)}):", *(f"  * {t}" for t in tests)]
    if not by_reason:
        lines.append("None.")
    lines += [
        "",
        "## Skipped on libSQL only (pass on SQLite): the ENGINE's features",
        "",
        "Skips the ENGINE declares (`libsql/features.py`, `django_test_skips` "
        "and feature flags), by reason:",
        "",
    ]
    lines += [
        f"* {count} x {reason}"
        for reason, count in found["skipped_only_on_libsql"].items()
    ] or ["None."]
    lines += ["", "## Fail on SQLite, pass on libSQL", ""]
    lines += [f"* `{t}`" for t in found["better_on_libsql"]] or ["None."]
    for name, result in passes.items():
        failing = sorted(t for t, o in result.outcomes.items() if o in _BAD)
        lines += ["", f"## Failing on {labels[name]} ({len(failing)})", ""]
        lines += [f"* `{t}`: {result.outcomes[t]}" for t in failing] or ["None."]
    path = directory / f"{stem}.md"
    path.write_text("\n".join(lines) + "\n")
    return path
