"""The libSQL section of ``benchmarks/RESULTS.md``, from ``libsql/results.json``.

    python -m benchmarks.libsql.report      # re-render from results.json

The section sits between two markers in RESULTS.md; writing it replaces what
is between them and nothing else (the PostgreSQL report keeps the block when
it rewrites the file). ``profile.md`` (the profile of ours, when the 2x target
is missed) and ``summary.md`` (the reading of a run), both written by hand,
are included when they exist.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from .checks import CHECKS
from .contenders import CONTENDERS

HERE = Path(__file__).resolve().parent
BEGIN = "<!-- libsql:begin (benchmarks/libsql/report.py writes this block) -->"
END = "<!-- libsql:end -->"
WORKLOAD_LABELS = {
    "pk_get": "PK get",
    "page": "page of 20 with `select_related`",
    "create": "create",
    "atomic3": "transaction of 3 writes",
}
TARGET = ("pk_get", 8, "ours_async", "libsql_backend", 2.0)


def load(out: Path) -> dict[str, Any]:
    path = out / "results.json"
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {}


def save(raw: dict[str, Any], out: Path, results_md: Path | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    raw["meta"] = environment(raw.get("meta", {}))
    (out / "results.json").write_text(json.dumps(raw, indent=1) + "\n")
    write(raw, out, results_md)


def environment(previous: dict[str, Any]) -> dict[str, Any]:
    import django

    from .server import binary

    meta = dict(previous)
    meta["command"] = os.environ.get("BENCH_LIBSQL_COMMAND", meta.get("command", ""))
    meta["python"] = platform.python_version()
    meta["django"] = django.get_version()
    meta["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["cores"] = os.cpu_count()
    try:
        import subprocess

        meta["sqld"] = subprocess.run(
            [str(binary()), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        meta["sqld"] = "?"
    return meta


def _cell(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return "n/a"
    if outcome["ok"]:
        return "✅"
    reason = str(outcome["reason"]).replace("|", "\\|").replace("\n", " ")
    return f"❌ {reason}"


def conformance_section(conformance: dict[str, Any]) -> list[str]:
    results: dict[str, dict[str, Any]] = conformance.get("results", {})
    if not results:
        return []
    names = list(results)
    lines = [
        "### Conformance",
        "",
        "`python -m benchmarks.libsql.conformance` (a fresh sqld per contender; "
        f"run {conformance.get('date', '?')}). Each row is a check of "
        "`benchmarks/libsql/checks.py`; ❌ says what went wrong. The last "
        "column is Django's SQLite backend on a local file: the reference.",
        "",
        "| Check | " + " | ".join(CONTENDERS[n].label for n in names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for key, label in CHECKS:
        row = [_cell(results[n].get(key)) for n in names]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    totals = [
        f"{CONTENDERS[n].label} {sum(o['ok'] for o in results[n].values())}"
        f"/{len(CHECKS)}"
        for n in names
    ]
    lines += ["", "Passed: " + "; ".join(totals) + ".", ""]
    versions = conformance.get("versions", {})
    if versions:
        lines.append(
            "Versions: "
            + "; ".join(f"{CONTENDERS[n].label}: {v}" for n, v in versions.items())
            + "."
        )
        lines.append("")
    return lines


def aggregate(cells: list[dict[str, Any]]) -> dict[tuple[str, int, str], Any]:
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in cells:
        groups[(row["workload"], row["concurrency"], row["contender"])].append(row)
    merged: dict[tuple[str, int, str], Any] = {}
    for key, rows in groups.items():
        good = [r for r in rows if not r.get("failure")]
        if not good:
            merged[key] = {"failure": rows[0]["failure"]}
            continue
        server = [r["server_cpu_ms_per_request"] for r in good if r.get(
            "server_cpu_ms_per_request") is not None]  # fmt: skip
        merged[key] = {
            "failure": None,
            "rps": statistics.mean(r["rps"] for r in good),
            "p50_ms": statistics.mean(r["p50_ms"] for r in good),
            "p99_ms": statistics.mean(r["p99_ms"] for r in good),
            "cpu": statistics.mean(r["cpu_ms_per_request"] for r in good),
            "server_cpu": statistics.mean(server) if server else None,
            "errors": sum(r["errors"] for r in good),
        }
    return merged


def target_value(cells: dict[tuple[str, int, str], Any]) -> float | None:
    workload, concurrency, ours, peer, _ = TARGET
    a = cells.get((workload, concurrency, ours)) or {}
    b = cells.get((workload, concurrency, peer)) or {}
    if a.get("rps") and b.get("rps"):
        return float(a["rps"] / b["rps"])
    return None


def throughput_section(throughput: dict[str, Any]) -> list[str]:
    rows = throughput.get("cells", [])
    if not rows:
        return []
    cells = aggregate(rows)
    names = list(dict.fromkeys(r["contender"] for r in rows))
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    concurrencies = sorted({r["concurrency"] for r in rows})
    quick = " **A `--quick` smoke run: not a measurement.**" if throughput.get(
        "quick") else ""  # fmt: skip
    lines = [
        "### Throughput",
        "",
        f"`python -m benchmarks.libsql.run` (run {throughput.get('date', '?')}, "
        f"{throughput.get('runtime_seconds', '?')} s): one sqld, the PostgreSQL "
        "matrix's data set and workloads, each cell a fresh client process, "
        f"{throughput.get('warmup')} s warm-up then {throughput.get('duration')} s "
        f"measured, {throughput.get('rounds')} round(s), contenders alternating; "
        "closed loop of c clients (tasks for ours async, threads for the "
        f"others).{quick}",
        "",
        "#### Targets",
        "",
        "| Target | Measured | Met |",
        "| --- | --- | --- |",
    ]
    value = target_value(cells)
    workload, concurrency, ours, peer, goal = TARGET
    met = "n/a" if value is None else ("yes" if value >= goal else "no")
    measured = f"{value:.2f}x" if value is not None else "n/a"
    lines.append(
        f"| {workload} at c = {concurrency}: {CONTENDERS[ours].label} / "
        f"{CONTENDERS[peer].label} ≥ {goal:g}x | {measured} | {met} |"
    )
    lines.append("")
    for workload in workloads:
        lines += [
            f"#### {workload}: {WORKLOAD_LABELS.get(workload, workload)}",
            "",
            "Requests/s (p99 ms; client CPU ms per request; server CPU ms per "
            "request, warm-up included):",
            "",
            "| c | " + " | ".join(CONTENDERS[n].label for n in names) + " |",
            "| --- |" + " --- |" * len(names),
        ]
        for concurrency in concurrencies:
            row = []
            for name in names:
                cell = cells.get((workload, concurrency, name))
                if cell is None:
                    row.append("n/a")
                elif cell["failure"]:
                    row.append(f"failed: {cell['failure'][:60]}".replace("|", "\\|"))
                else:
                    server = cell["server_cpu"]
                    text = (
                        f"{cell['rps']:,.0f} ({cell['p99_ms']:.1f}; "
                        f"{cell['cpu']:.2f}; "
                        + (f"{server:.2f}" if server is not None else "?")
                        + ")"
                    )
                    if cell["errors"]:
                        text += f", {cell['errors']} errors"
                    row.append(text)
            lines.append(f"| {concurrency} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


def section(raw: dict[str, Any], out: Path) -> str:
    meta = raw.get("meta", {})
    lines = [
        BEGIN,
        "## libSQL",
        "",
        "Generated by `benchmarks/libsql/report.py` from "
        "`benchmarks/libsql/results.json`; the method is in "
        "[README.md](README.md#libsql).",
        "",
        f"* Command: `{meta.get('command') or 'python -m benchmarks.libsql'}`.",
        f"* {meta.get('sqld', 'sqld ?')} on this host; Python "
        f"{meta.get('python')}, Django {meta.get('django')} (every contender's "
        f"virtualenv has the same); {meta.get('cores')} cores; load average at "
        f"the end: {meta.get('load')}.",
        "",
    ]
    summary = out / "summary.md"
    if summary.exists():
        lines += [summary.read_text().rstrip(), ""]
    lines += conformance_section(raw.get("conformance", {}))
    lines += throughput_section(raw.get("throughput", {}))
    profile = out / "profile.md"
    if profile.exists():
        lines += [profile.read_text().rstrip(), ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


def splice(text: str, block: str) -> str:
    """``text`` with its libSQL block replaced by ``block`` (appended if none)."""
    start = text.find(BEGIN)
    end = text.find(END)
    if start == -1 or end == -1:
        return text.rstrip("\n") + "\n\n" + block
    return text[:start] + block + text[end + len(END) :].lstrip("\n")


def existing_block(text: str) -> str | None:
    """The libSQL block of a RESULTS.md, for the PostgreSQL report to keep."""
    start = text.find(BEGIN)
    end = text.find(END)
    if start == -1 or end == -1:
        return None
    return text[start : end + len(END)] + "\n"


def write(raw: dict[str, Any], out: Path, results_md: Path | None = None) -> None:
    block = section(raw, out)
    (out / "section.md").write_text(block)
    target = results_md or (out.parent / "RESULTS.md" if out == HERE else None)
    if target is None:
        target = out / "RESULTS.md"
    current = target.read_text() if target.exists() else ""
    target.write_text(splice(current, block))


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    write(load(out), out)
