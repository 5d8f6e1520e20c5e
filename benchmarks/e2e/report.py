"""The end-to-end part of RESULTS.md: its targets, tables and plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .runner import SERVERS, WORKLOADS, WRK_TIMEOUT

__all__ = ["e2e_plot", "e2e_section", "e2e_targets"]

LABELS = {
    "ours": "ours",
    "ours_prepared": "ours, prepared querysets",
    "stock_async": "stock async",
    "upstream": "upstream",
    "stock_sync": "stock sync",
}
WORKLOAD_LABELS = {
    "page": (
        "logged-in page (session user, `select_related` get, related manager, " "count)"
    ),
    "write": "CSRF-protected POST, 2 writes in a transaction",
}


def _cells(e2e: dict[str, Any]) -> dict[tuple[str, int, str, str], dict[str, Any]]:
    from ..report import aggregate

    rows = [r for r in e2e.get("cells", []) if "server" in r]
    return aggregate(rows, ("workload", "connections", "contender", "server"))


def _ok(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    return cell if cell and not cell.get("failure") else None


def _best(
    cells: dict[Any, Any], workload: str, connections: int, contender: str
) -> tuple[str, dict[str, Any]] | None:
    """The contender's server with the most requests/s in this cell."""
    found = [
        (server, cell)
        for (w, c, who, server), cell in cells.items()
        if (w, c, who) == (workload, connections, contender) and _ok(cell)
    ]
    return max(found, key=lambda item: item[1]["rps"]) if found else None


def e2e_targets(e2e: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, met) rows for RESULTS.md's targets table."""
    cells = _cells(e2e)
    rows: list[tuple[str, str, str]] = []
    concurrencies = sorted({key[1] for key in cells})
    for workload in WORKLOADS:
        for connections in concurrencies:
            where = f"e2e {workload} c={connections}"
            for server in ("uvicorn", "granian"):
                ours = _ok(cells.get((workload, connections, "ours", server)))
                stock = _ok(cells.get((workload, connections, "stock_async", server)))
                if ours and stock:
                    ratio = ours["rps"] / stock["rps"]
                    rows.append(
                        (
                            f"{where}: ours / stock async on {server} ≥ 2.0x",
                            f"{ratio:.2f}x",
                            "yes" if ratio >= 2.0 else "no",
                        )
                    )
            ours_best = _best(cells, workload, connections, "ours")
            sync_best = _best(cells, workload, connections, "stock_sync")
            if ours_best and sync_best:
                ratio = ours_best[1]["rps"] / sync_best[1]["rps"]
                rows.append(
                    (
                        f"{where}: ours on its best server / the best stock-sync "
                        f"server ≥ 1.1x",
                        f"{ratio:.2f}x ({ours_best[0]} / {sync_best[0]})",
                        "yes" if ratio >= 1.1 else "no",
                    )
                )
                ours_p99, sync_p99 = ours_best[1]["p99_ms"], sync_best[1]["p99_ms"]
                rows.append(
                    (
                        f"{where}: ours' p99 below stock sync's (best servers)",
                        f"{ours_p99:.0f} vs {sync_p99:.0f} ms",
                        "yes" if ours_p99 < sync_p99 else "no",
                    )
                )
    return rows


def e2e_section(e2e: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    cells = _cells(e2e)
    if not cells:
        return []
    hops = {row["contender"]: row for row in e2e.get("hops", [])}
    duration = max(1, round(meta.get("e2e_duration", 5)))
    lines = [
        "## End to end: a project as startproject makes it, over HTTP",
        "",
        "Django's seven `startproject` middleware, a logged-in session user, "
        "one worker per server. `page`: the session user, a book with its "
        "author (`select_related`), the author's other books (a related "
        "manager), a count (5 queries with the session's). `write`: a "
        "CSRF-protected POST writing an entry and bumping its author's counter "
        "in one transaction. ours, stock async and upstream on uvicorn "
        "(uvloop + httptools) and granian (ASGI, uvloop); stock sync on "
        "gunicorn (gthread, 32 threads) and granian (WSGI, 32 threads). Pool "
        "max 20 for all. Loaded by `wrk -t1 -d"
        f"{duration}s --timeout {WRK_TIMEOUT}` (a separate process; timeouts "
        "are responses slower than that) after a 1 s warm-up, each server "
        "started fresh, contenders alternating; rounds averaged. CPU and RSS "
        "are the server's (its whole process tree). Thread hops per request "
        "(`asgiref` `SyncToAsync` calls) come from a separate, untimed run.",
        "",
        "![end to end](plots/e2e.png)",
        "",
    ]
    for workload in WORKLOADS:
        lines += [
            f"### {workload}: {WORKLOAD_LABELS[workload]}",
            "",
            "| Contender | server | c | req/s | vs stock async (same server) "
            "| p50 ms | p99 ms | server CPU ms/req | thread hops/req "
            "| server peak RSS MiB | server conns | non-2xx | timeouts |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
            "| --- | --- |",
        ]
        for connections in sorted({key[1] for key in cells}):
            for contender, server in SERVERS:
                cell = _ok(cells.get((workload, connections, contender, server)))
                if cell is None:
                    continue
                stock = _ok(cells.get((workload, connections, "stock_async", server)))
                ratio = f"{cell['rps'] / stock['rps']:.2f}x" if stock else "n/a"
                counted = hops.get(contender, {}).get(workload)
                hop_text = (
                    "0 (threads)"
                    if contender == "stock_sync"
                    else (f"{counted:g}" if counted is not None else "n/a")
                )
                lines.append(
                    f"| {LABELS[contender]} | {server} | {connections} "
                    f"| {cell['rps']:.0f} | {ratio} | {cell['p50_ms']:.1f} "
                    f"| {cell['p99_ms']:.1f} | {cell['cpu']:.2f} | {hop_text} "
                    f"| {cell['rss']:.0f} | {cell['conns']} | {cell['errors']} "
                    f"| {cell.get('timeouts', 0)} |"
                )
        lines.append("")
    lines += _prepared_ratios(cells)
    return lines


def _prepared_ratios(cells: dict[Any, Any]) -> list[str]:
    """The prepared-queryset variant against the stock contenders."""
    found = []
    for workload in WORKLOADS:
        for connections in sorted({key[1] for key in cells}):
            prepared = _best(cells, workload, connections, "ours_prepared")
            stock = _best(cells, workload, connections, "stock_async")
            sync = _best(cells, workload, connections, "stock_sync")
            if prepared and stock and sync:
                found.append(
                    f"| {workload} | {connections} "
                    f"| {prepared[1]['rps'] / stock[1]['rps']:.2f}x "
                    f"| {prepared[1]['rps'] / sync[1]['rps']:.2f}x |"
                )
    if not found:
        return []
    return [
        "Ours with the views' queries as prepared querysets, on its best "
        "server, against the best server of each stock contender:",
        "",
        "| Workload | c | prepared / stock async | prepared / stock sync |",
        "| --- | --- | --- | --- |",
        *found,
        "",
    ]


def e2e_plot(e2e: dict[str, Any], out: Path) -> None:
    cells = _cells(e2e)
    if not cells:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    concurrencies = sorted({key[1] for key in cells})
    groups = [(w, c) for w in WORKLOADS for c in concurrencies]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.8 / len(SERVERS)
    for index, (contender, server) in enumerate(SERVERS):
        values = [
            (_ok(cells.get((w, c, contender, server))) or {}).get("rps", 0)
            for w, c in groups
        ]
        positions = [g + index * width for g in range(len(groups))]
        ax.bar(positions, values, width, label=f"{LABELS[contender]} · {server}")
    ax.set_xticks(
        [g + 0.4 - width / 2 for g in range(len(groups))],
        [f"{w}\nc={c}" for w, c in groups],
    )
    ax.set_ylabel("requests/s")
    ax.set_title("End to end over HTTP, one worker")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "e2e.png", dpi=110)
    plt.close(fig)
