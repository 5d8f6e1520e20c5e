"""RESULTS.md and the plots, from the run's raw results (``results.json``).

    python -m benchmarks.report [directory]    # re-render from results.json


Rounds of a cell are averaged (requests/s, latencies, CPU per request); peak
RSS and server connections are the maximum over rounds. ``profile.md``, the
hand-written account of profiling, is included at the end, and
``summary.md`` (the reading of a run, hand-written) after the header.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from .contenders import CONTENDERS
from .e2e.report import e2e_plot, e2e_section, e2e_targets
from .libsql.report import existing_block
from .workloads import WORKLOADS

HERE = Path(__file__).resolve().parent
LABELS = {
    "ours": "ours (native a-methods)",
    "prepared": "ours, prepared querysets",
    "stock_async": "stock async (sync_to_async)",
    "stock_sync": "stock sync (threads)",
    "ceiling": "ceiling (bare psycopg)",
    "upstream": "upstream django-async-backend",
}
WORKLOAD_LABELS = {
    "pk_get": "PK `aget`",
    "page": "page of 20 with `select_related`",
    "prefetch": "`prefetch_related` of a reverse FK (5 authors, 50 books)",
    "create": "`acreate`",
    "atomic3": "transaction of 3 writes",
}


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _first_line(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.stdout else "?"


def environment(args: argparse.Namespace) -> dict[str, Any]:
    from importlib.metadata import version

    import psycopg

    from .run import admin_connection

    with admin_connection() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    upstream = None
    if args.upstream_python:
        upstream = _first_line(
            [
                args.upstream_python,
                "-c",
                "from importlib.metadata import version as v;"
                "print(v('django-async-backend'), v('django'))",
            ]
        )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": args.command,
        "load_start": loadavg(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": version("django"),
        "psycopg": psycopg.__version__,
        "psycopg_pool": version("psycopg-pool"),
        "greenlet": version("greenlet"),
        "postgresql": row[0] if row else "?",
        "upstream": upstream,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "duration": args.duration,
        "concurrency": args.concurrency,
        "e2e_duration": args.e2e_duration,
        "e2e_connections": args.e2e_connections,
    }


def aggregate(rows: list[dict[str, Any]], key: tuple[str, ...]) -> dict[Any, Any]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in key)].append(row)
    merged: dict[Any, Any] = {}
    for group_key, all_rounds in groups.items():
        group = [r for r in all_rounds if not r.get("failure")]
        if not group:
            merged[group_key] = {"failure": all_rounds[0]["failure"]}
            continue
        merged[group_key] = {
            "failure": None,
            "failed_rounds": len(all_rounds) - len(group),
            "rps": statistics.mean(r["rps"] for r in group),
            "p50_ms": statistics.mean(r["p50_ms"] for r in group),
            "p99_ms": statistics.mean(r["p99_ms"] for r in group),
            "max_ms": max(r.get("max_ms", 0.0) for r in group),
            "cpu": statistics.mean(
                r.get("cpu_ms_per_request", r.get("server_cpu_ms_per_request", 0))
                for r in group
            ),
            "rss": max(
                r.get("peak_rss_mib", r.get("server_peak_rss_mib", 0)) for r in group
            ),
            "conns": max(r["server_connections"] or 0 for r in group),
            "errors": sum(r["errors"] for r in group),
            "timeouts": sum(r.get("timeouts", 0) for r in group),
            "rounds": len(group),
        }
    return merged


def _ok(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    return cell if cell and not cell["failure"] else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def targets_section(
    cells: dict[Any, Any], concurrency: int, e2e: dict[str, Any]
) -> list[str]:
    def rps(contender: str, workload: str) -> float | None:
        cell = cells.get((workload, concurrency, contender))
        return cell["rps"] if cell and not cell["failure"] else None

    def cpu(contender: str, workload: str) -> float | None:
        cell = cells.get((workload, concurrency, contender))
        return cell["cpu"] if cell and not cell["failure"] else None

    ours_pk = rps("ours", "pk_get")
    lines = [
        f"## Targets at concurrency {concurrency}",
        "",
        "| Target | Measured | Met |",
        "| --- | --- | --- |",
    ]

    def row(name: str, value: float | None, goal: float, higher: bool) -> None:
        text = f"{value:.2f}x" if value else "n/a"
        met = "n/a" if value is None else ("yes" if (value >= goal) == higher else "no")
        lines.append(f"| {name} | {text} | {met} |")

    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    row(
        "PK `aget` ours / stock async ≥ 4x",
        div(ours_pk, rps("stock_async", "pk_get")),
        4,
        True,
    )
    row(
        "PK `aget` ours / upstream ≥ 1.3x",
        div(ours_pk, rps("upstream", "pk_get")),
        1.3,
        True,
    )
    for workload in WORKLOADS:
        row(
            f"CPU/request {workload}: ours / stock sync ≤ 1.15x",
            div(cpu("ours", workload), cpu("stock_sync", workload)),
            1.15,
            False,
        )
    prepared_pk = rps("prepared", "pk_get")
    row(
        "PK `aget` prepared / ours ≥ 1.6x",
        div(prepared_pk, ours_pk),
        1.6,
        True,
    )
    row(
        "PK `aget` prepared / upstream ≥ 1.5x",
        div(prepared_pk, rps("upstream", "pk_get")),
        1.5,
        True,
    )
    row(
        "page prepared / ours ≥ 1.4x",
        div(rps("prepared", "page"), rps("ours", "page")),
        1.4,
        True,
    )
    lines += [
        "",
        "The request path (issue 10): end to end over HTTP, and the checkout",
        "path in the matrix:",
        "",
        "| Target | Measured | Met |",
        "| --- | --- | --- |",
    ]
    row(
        f"Matrix pk_get c={concurrency}: ours / upstream ≥ 1.0x",
        div(ours_pk, rps("upstream", "pk_get")),
        1.0,
        True,
    )
    for name, measured, met in e2e_targets(e2e):
        lines.append(f"| {name} | {measured} | {met} |")
    lines += [
        "",
        "Fraction of the ceiling (bare psycopg) reached by ours and by prepared "
        "querysets, requests/s:",
        "",
        "| Workload | ours / ceiling | prepared / ceiling | prepared / ours "
        "| ours / stock async | ours / stock sync | ours / upstream |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for workload in WORKLOADS:
        ours = rps("ours", workload)
        prepared = rps("prepared", workload)
        lines.append(
            f"| {workload} | {_ratio(ours, rps('ceiling', workload))} "
            f"| {_ratio(prepared, rps('ceiling', workload))} "
            f"| {_ratio(prepared, ours)} "
            f"| {_ratio(ours, rps('stock_async', workload))} "
            f"| {_ratio(ours, rps('stock_sync', workload))} "
            f"| {_ratio(ours, rps('upstream', workload))} |"
        )
    return [*lines, ""]


def percall_medians(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """(workload, variant) -> (client µs, server µs or None), medians of rounds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["workload"], row["variant"]].append(row)
    medians = {}
    for key, group in groups.items():
        servers = [r["server_us"] for r in group if r["server_us"] is not None]
        medians[key] = (
            statistics.median(r["client_us"] for r in group),
            statistics.median(servers) if servers else None,
        )
    return medians


PERCALL_LABELS = {
    "plain": "plain `aget` / `async for` (ours, native)",
    "prepared": "prepared (server-side prepared statements)",
    "prepared_client": "prepared, bound on the client",
    "bare": "bare psycopg (its defaults: prepared after 5)",
    "bare_client": "bare psycopg, `AsyncClientCursor`",
}


def percall_targets(rows: list[dict[str, Any]]) -> list[str]:
    medians = percall_medians(rows)
    if not medians:
        return []
    lines = [
        "CPU per call (client), one task calling in sequence "
        "(`benchmarks/percall.py`):",
        "",
        "| Target | Measured | Met |",
        "| --- | --- | --- |",
    ]
    # The targets are the primary-key aget's; the page is in the table below.
    prepared = medians.get(("pk_get", "prepared"))
    for other, goal in (("plain", 0.45), ("bare", 1.6)):
        base = medians.get(("pk_get", other))
        value = prepared[0] / base[0] if prepared and base else None
        text = f"{value:.2f}x" if value else "n/a"
        met = "n/a" if value is None else ("yes" if value <= goal else "no")
        name = "plain aget" if other == "plain" else "bare psycopg"
        lines.append(
            f"| CPU/call pk_get: prepared / {name} ≤ {goal}x | {text} | {met} |"
        )
    return [*lines, ""]


def percall_section(rows: list[dict[str, Any]]) -> list[str]:
    medians = percall_medians(rows)
    if not medians:
        return []
    rounds = max(r["round"] for r in rows) + 1
    calls = rows[0]["calls"]
    lines = [
        "## CPU per call: prepared querysets",
        "",
        f"One task, {calls} calls per variant and round, {rounds} rounds "
        "alternating, medians. Client: process CPU time per call; server: CPU "
        "time of the connection's backend process per call "
        "(`/proc/<pid>/schedstat`). pk_get: a book by primary key; page: 20 "
        "books with their authors.",
        "",
        "| Workload | Variant | client µs | server µs | client + server µs "
        "| client vs plain |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for workload in ("pk_get", "page"):
        plain = medians.get((workload, "plain"))
        for variant, label in PERCALL_LABELS.items():
            found = medians.get((workload, variant))
            if found is None:
                continue
            client, server = found
            total = f"{client + server:.0f}" if server is not None else "n/a"
            server_text = f"{server:.0f}" if server is not None else "n/a"
            lines.append(
                f"| {workload} | {label} | {client:.0f} | {server_text} | {total} "
                f"| {_ratio(client, plain and plain[0])} |"
            )
    return [*lines, ""]


def cpu_section(cells: dict[Any, Any], concurrencies: list[int]) -> list[str]:
    present = [c for c in CONTENDERS if any(k[2] == c for k in cells)]
    lines = [
        "## Client CPU time per request (ms)",
        "",
        "Process CPU seconds (all threads) over the measured window, divided by",
        "the requests completed in it. *stock sync, c=1* is the reference: the",
        "sync ORM in one thread, sequential.",
        "",
        "| Workload | c | " + " | ".join(present) + " | ours / stock sync |",
        "| --- | --- | " + " | ".join("---" for _ in present) + " | --- |",
    ]
    for workload in WORKLOADS:
        for concurrency in concurrencies:
            values = [_ok(cells.get((workload, concurrency, c))) for c in present]
            text = [f"{v['cpu']:.3f}" if v else "n/a" for v in values]
            ours = _ok(cells.get((workload, concurrency, "ours")))
            sync = _ok(cells.get((workload, concurrency, "stock_sync")))
            ratio = _ratio(ours and ours["cpu"], sync and sync["cpu"])
            lines.append(
                f"| {workload} | {concurrency} | " + " | ".join(text) + f" | {ratio} |"
            )
    return [*lines, ""]


def workload_sections(cells: dict[Any, Any], concurrencies: list[int]) -> list[str]:
    lines = ["## Every cell", ""]
    for workload in WORKLOADS:
        lines += [
            f"### {workload}: {WORKLOAD_LABELS[workload]}",
            "",
            f"![{workload}](plots/{workload}.png)",
            "",
            "| Contender | c | req/s | vs stock async | vs ceiling | p50 ms | p99 ms "
            "| max ms | CPU ms/req | peak RSS MiB | server conns | errors |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for concurrency in concurrencies:
            stock = _ok(cells.get((workload, concurrency, "stock_async")))
            ceiling = _ok(cells.get((workload, concurrency, "ceiling")))
            for contender in CONTENDERS:
                cell = cells.get((workload, concurrency, contender))
                if cell is None:
                    continue
                if cell["failure"]:
                    lines.append(
                        f"| {contender} | {concurrency} | {cell['failure']} "
                        "| | | | | | | | | all rounds |"
                    )
                    continue
                lines.append(
                    f"| {contender} | {concurrency} | {cell['rps']:.0f} "
                    f"| {_ratio(cell['rps'], stock and stock['rps'])} "
                    f"| {_ratio(cell['rps'], ceiling and ceiling['rps'])} "
                    f"| {cell['p50_ms']:.2f} | {cell['p99_ms']:.2f} "
                    f"| {cell['max_ms']:.0f} | {cell['cpu']:.3f} "
                    f"| {cell['rss']:.0f} | {cell['conns']} "
                    f"| {cell['errors'] + cell['failed_rounds']} |"
                )
        lines.append("")
    return lines


def header(meta: dict[str, Any]) -> list[str]:
    upstream = meta.get("upstream") or "not run"
    minutes = meta.get("runtime_seconds", 0) / 60
    return [
        "# Benchmark results",
        "",
        "Generated by `benchmarks/report.py` from `results.json`; see",
        "[README.md](README.md) for the method and the contenders.",
        "",
        f"* Date: {meta['date']}; command: `{meta['command']}`; runtime "
        f"{minutes:.1f} min.",
        f"* Machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory_gib']} GiB; "
        f"{meta['os']}. PostgreSQL {meta['postgresql']} on the same host.",
        f"* Load average (1, 5, 15 min) at start: {meta['load_start']}; at end: "
        f"{meta.get('load_end', '?')}.",
        f"* Python {meta['python']}, Django {meta['django']}, psycopg "
        f"{meta['psycopg']}, psycopg-pool {meta['psycopg_pool']}, greenlet "
        f"{meta['greenlet']}; upstream django-async-backend and its Django: "
        f"{upstream} (own virtualenv, same interpreter).",
        f"* Each cell: {meta['warmup']} s warm-up then {meta['duration']} s measured, "
        f"in a fresh client process; {meta['rounds']} rounds, contenders "
        "alternating (A B C … A B C …); rounds averaged. Pool max 20 "
        "connections for every contender.",
        "",
    ]


def plots(cells: dict[Any, Any], concurrencies: list[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    for workload in WORKLOADS:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for contender in CONTENDERS:
            points = [
                (c, cells[(workload, c, contender)]["rps"])
                for c in concurrencies
                if _ok(cells.get((workload, c, contender)))
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=LABELS[contender])
        ax.set_xscale("log", base=2)
        ax.set_xticks(concurrencies, [str(c) for c in concurrencies])
        ax.set_xlabel("concurrent requests")
        ax.set_ylabel("requests/s")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{workload}: {WORKLOAD_LABELS[workload].replace('`', '')}")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"{workload}.png", dpi=110)
        plt.close(fig)


def write(raw: dict[str, Any], out: Path) -> None:
    meta = raw["meta"]
    cells = aggregate(raw["cells"], ("workload", "concurrency", "contender"))
    concurrencies = sorted({k[1] for k in cells})
    lines = header(meta)
    summary = out / "summary.md"
    if summary.exists():
        lines += [summary.read_text().rstrip(), ""]
    target_c = 32 if 32 in concurrencies else max(concurrencies)
    e2e = raw.get("e2e") or {}
    if isinstance(e2e, list):  # results.json of an older run
        e2e = {}
    lines += targets_section(cells, target_c, e2e)
    lines += percall_targets(raw.get("percall", []))
    lines += percall_section(raw.get("percall", []))
    lines += cpu_section(cells, concurrencies)
    lines += e2e_section(e2e, meta)
    lines += workload_sections(cells, concurrencies)
    notes = out / "profile.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    # The libSQL section (benchmarks/libsql/report.py) has a run of its own:
    # keep it.
    previous = out / "RESULTS.md"
    block = existing_block(previous.read_text()) if previous.exists() else None
    if block:
        lines += [block]
    (out / "RESULTS.md").write_text("\n".join(lines))
    plots(cells, concurrencies, out / "plots")
    e2e_plot(e2e, out / "plots")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    write(json.loads((target / "results.json").read_text()), target)
