"""``python -m chaos.run``: the chaos suite's command line (``scripts/chaos``).

Modes (``--mode``):

``short``
    what CI runs: 40 s on PostgreSQL (two restarts, a backend terminated
    every second, ~10% of tasks cancelled, pool bursts) and 15 s on SQLite
    (cancellations, duplicates); about 80 s in all.
``long``
    the same for 5 minutes on PostgreSQL (a restart every 20 s) and 1
    minute on SQLite.
``soak``
    10 minutes on PostgreSQL at the pool's size, no faults; RSS and the
    server's connection count sampled every 5 s, and checked flat at the end.

Each backend runs in a child process of its own (Django's settings are per
process); the parent collects their results into ``results.json`` and
``RESULTS.md`` (``--output``, by default this package's directory) and exits
non-zero if a verification failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["MODES", "main"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

MODES: dict[str, dict[str, Any]] = {
    "short": {
        "postgresql": {"duration": 40, "restarts": [12, 26]},
        "sqlite": {"duration": 15},
    },
    "long": {
        "postgresql": {"duration": 300, "restarts": list(range(20, 300, 20))},
        "sqlite": {"duration": 60},
    },
    "soak": {"postgresql": {"duration": 600, "soak": True}},
}

WORKERS = 40
CANCEL_RATE = 0.10
DUPLICATE_RATE = 0.05
RECOVERY_BOUND = 10.0  # seconds from a restart's end to the next commit
LATENCY_MARGIN = 5.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__)
    parser.add_argument("--mode", choices=sorted(MODES), default="short")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], action="append")
    parser.add_argument("--duration", type=float, help="seconds, for each backend")
    parser.add_argument("--output", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.child is not None:
        return _child(args)
    backends = args.backend or list(MODES[args.mode])
    args.output.mkdir(parents=True, exist_ok=True)
    results_path = args.output / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    started = time.monotonic()
    run: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "scripts/chaos " + " ".join(argv or sys.argv[1:]),
        "machine": _machine(),
        "load_before": os.getloadavg(),
        "backends": {},
    }
    ok = True
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="dab-chaos-") as scratch:
            out = Path(scratch) / "result.json"
            command = [
                sys.executable, "-m", "chaos.run", "--child", str(out),
                "--mode", args.mode, "--backend", backend, "--seed", str(args.seed),
            ]  # fmt: skip
            if args.duration:
                command += ["--duration", str(args.duration)]
            print(f"==> chaos {args.mode}: {backend}", flush=True)
            code = subprocess.call(command, cwd=ROOT)
            if out.exists():
                result = json.loads(out.read_text())
            else:
                result = {"passed": False, "checks": [], "crashed": code}
        run["backends"][backend] = result
        ok = ok and code == 0 and result["passed"]
        for check in result.get("checks", []):
            mark = "ok  " if check["passed"] else "FAIL"
            print(f"    {mark} {check['name']}: {check['detail']}", flush=True)
    run["seconds"] = round(time.monotonic() - started, 1)
    run["load_after"] = os.getloadavg()
    run["passed"] = ok
    results[args.mode] = run
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    from .report import write_markdown

    write_markdown(results, args.output / "RESULTS.md")
    print(
        f"==> chaos {args.mode}: {'passed' if ok else 'FAILED'} in {run['seconds']} s"
    )
    return 0 if ok else 1


def _machine() -> str:
    processor = platform.processor() or platform.machine()
    return f"{processor}, {os.cpu_count()} cores; {platform.platform()}"


# -- the child: one backend ----------------------------------------------------


def _child(args: argparse.Namespace) -> int:
    # The pool logs every failed reconnection and discarded connection while
    # the server is down: expected here, and counted by the checks instead.
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    backend = args.backend[0]
    plan = dict(MODES[args.mode][backend])
    if args.duration:
        plan["duration"] = args.duration
        plan["restarts"] = [
            t for t in plan.get("restarts", []) if t < args.duration - 5
        ] or ([args.duration / 3] if "restarts" in plan else [])
    os.environ["CHAOS_BACKEND"] = backend
    os.environ["DJANGO_SETTINGS_MODULE"] = "chaos.settings"
    scratch = Path(tempfile.mkdtemp(prefix="dab-chaos-db-"))
    cluster = None
    try:
        if backend == "postgresql":
            cluster = _start_cluster()
            os.environ["CHAOS_PORT"] = str(cluster.port)
        else:
            os.environ["CHAOS_SQLITE_PATH"] = str(scratch / "chaos.sqlite3")
        import django

        django.setup()
        from .workload import create_schema

        create_schema()
        result = asyncio.run(_scenario(backend, plan, args.seed, cluster))
    finally:
        if cluster is not None:
            cluster.destroy()
        shutil.rmtree(scratch, ignore_errors=True)
    args.child.write_text(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


def _start_cluster() -> Any:
    import psycopg

    sys.path.insert(0, str(ROOT))
    from tests.db.backends.postgresql.cluster import PrivateCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit(
            "chaos: PostgreSQL's server binaries (initdb, pg_ctl) are needed for "
            "a private cluster: apt-get install postgresql"
        )
    cluster = PrivateCluster(bindir)
    cluster.start()
    with psycopg.connect(**cluster.connect_kwargs()) as admin:
        admin.execute("CREATE DATABASE chaos")
    return cluster


async def _scenario(
    backend: str, plan: dict[str, Any], seed: int, cluster: Any
) -> dict[str, Any]:
    from django.conf import settings

    from django_async_backend.db import async_connections

    from . import faults, sampler, verify
    from .workload import ACCOUNTS, INITIAL_BALANCE, Ledger, transfer

    rng = random.Random(seed)
    stop = asyncio.Event()
    soak = plan.get("soak", False)
    ledger = Ledger(keep=not soak)
    postgresql = backend == "postgresql"
    canceller = faults.Canceller(rng, 0.0 if soak else CANCEL_RATE, within=0.05)
    workers = settings.POOL_MAX if soak else WORKERS
    rss_start = sampler.rss_mib()

    async def worker() -> None:
        while not stop.is_set():
            task = canceller.start(
                transfer(
                    ledger,
                    rng,
                    duplicate=not soak and rng.random() < DUPLICATE_RATE,
                    injected=canceller.injected(),
                )
            )
            await asyncio.gather(task, return_exceptions=True)

    if postgresql:

        async def count() -> int:
            return await sampler.server_connections(cluster, "chaos")
    else:
        path = settings.DATABASES["default"]["NAME"]

        async def count() -> int:
            return sampler.sqlite_connections(path)

    samples = sampler.Sampler(count, every=5.0 if soak else 2.0)
    start = time.monotonic()
    side: dict[str, asyncio.Task[Any]] = {
        "samples": asyncio.create_task(samples.run(stop))
    }
    if postgresql and not soak:
        side["restarts"] = asyncio.create_task(
            faults.restart_server(cluster, plan["restarts"], start, stop)
        )
        side["terminated"] = asyncio.create_task(
            faults.terminate_backends(cluster, "chaos", 1.0, stop)
        )
        side["bursts"] = asyncio.create_task(
            faults.bursts(
                ledger, 2 * settings.POOL_MAX, 0.5, 10.0, stop, "SELECT pg_sleep(%s)"
            )
        )
    checked: dict[str, list[str]] = {"lost": [], "visible": []}
    if soak:  # check keys as the run goes, so that memory stays flat
        side["checked"] = asyncio.create_task(
            _check_keys_while_running(cluster, ledger, checked, stop)
        )
    running = [asyncio.create_task(worker()) for _ in range(workers)]
    await asyncio.sleep(plan["duration"])
    stop.set()
    await asyncio.gather(*running)
    side_results = {name: await task for name, task in side.items()}
    workload_seconds = time.monotonic() - start

    idle_first: list[bool] = []
    idle_recovery = None
    if postgresql and not soak:
        idle_first, idle_recovery = await _idle_app_after_restart(cluster, ledger)

    rss_end = sampler.rss_mib()
    await async_connections.close_pools()
    left_now = await count()
    left = left_now
    deadline = time.monotonic() + 3.0
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        left = await count()

    stored = await _read_back(backend, cluster)
    keys = ledger.take_unchecked("committed", "failed", "in_doubt")
    keys["committed"] += checked["lost"]  # found missing while running
    keys["failed"] += checked["visible"]  # found present while running
    transfers = sum(ledger.outcomes.values())
    restarts_up = side_results.get("restarts", [])
    recovery = verify.recovery_times(restarts_up, ledger.operations)
    bound = settings.POOL_TIMEOUT + settings.STATEMENT_TIMEOUT + LATENCY_MARGIN
    if not postgresql:
        bound = settings.STATEMENT_TIMEOUT + LATENCY_MARGIN
    checks = [
        verify.committed_not_lost(keys["committed"], stored["keys"]),
        verify.rolled_back_not_visible(keys["failed"], stored["keys"]),
        verify.invariant_totals(
            stored["balances"],
            stored["transfers"],
            accounts=ACCOUNTS,
            initial=INITIAL_BALANCE,
        ),
        verify.connections_closed(left),
        verify.latencies_bounded(ledger.operations, bound, ledger.max_seconds),
        verify.only_expected_errors(ledger.operations),
    ]
    if postgresql and not soak:
        checks.append(verify.recovered(recovery, RECOVERY_BOUND))
        checks.append(verify.idle_app_served(idle_first))
    if soak:
        rss = [s[1] for s in samples.samples]
        conns = [float(s[2]) for s in samples.samples]
        checks.append(verify.flat("RSS (MiB)", rss, tolerance=8.0, relative=0.05))
        checks.append(verify.flat("server connections", conns, tolerance=0.0))
    return {
        "backend": backend,
        "plan": plan,
        "versions": _versions(),
        "seconds": round(workload_seconds, 1),
        "workers": workers,
        "transfers": transfers,
        "transfers_per_second": round(transfers / workload_seconds, 1),
        "counts": ledger.counts(),
        "in_doubt_resolved": verify.in_doubt_resolution(
            keys["in_doubt"], stored["keys"]
        ),
        "errors": ledger.errors(),
        "cancelled_injected": len(canceller.cancelled),
        "bursts": side_results.get("bursts", 0),
        "burst_operations": sum(op.kind == "burst" for op in ledger.operations),
        "terminated_backends": side_results.get("terminated", 0),
        "restarts": len(restarts_up),
        "recovery_seconds": [None if t is None else round(t, 3) for t in recovery],
        "idle_app_first_requests": idle_first,
        "idle_app_recovery_seconds": idle_recovery,
        "max_latency_seconds": round(ledger.max_seconds, 3),
        "p99_latency_seconds": round(ledger.p99(), 3),
        "latency_bound_seconds": bound,
        "connections_right_after_close_pools": left_now,
        "connections_after_close_pools": left,
        "rss_mib": {"start": round(rss_start, 1), "end": round(rss_end, 1)},
        "samples": [
            {"t": round(t, 1), "rss_mib": round(r, 1), "connections": c}
            for t, r, c in samples.samples
        ],
        "checks": [asdict(check) for check in checks],
        "passed": all(check.passed for check in checks),
    }


async def _check_keys_while_running(
    cluster: Any, ledger: Any, checked: dict[str, list[str]], stop: asyncio.Event
) -> int:
    """Every 10 s, check the keys of the transfers that ended meanwhile
    against the database; remember only the ones that are wrong."""
    import psycopg

    from .models import Transfer

    batches = 0
    sql = f"SELECT key FROM {Transfer._meta.db_table} WHERE key = ANY(%s)"
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 10.0)
        except TimeoutError:
            pass
        # Keys of transfers that are still running are not taken yet.
        taken = ledger.take_unchecked("committed", "failed")
        wanted = taken["committed"] + taken["failed"]
        if not wanted:
            continue
        async with await psycopg.AsyncConnection.connect(
            **cluster.connect_kwargs("chaos")
        ) as conn:
            cursor = await conn.execute(sql, [wanted])
            present = {row[0] for row in await cursor.fetchall()}
        checked["lost"] += [k for k in taken["committed"] if k not in present]
        checked["visible"] += [k for k in taken["failed"] if k in present]
        batches += 1
    return batches


async def _idle_app_after_restart(cluster: Any, ledger: Any) -> tuple[list[bool], Any]:
    """Let the app go idle with connections in its pool, restart the server
    fast, then serve requests one by one: each must succeed."""
    from django.conf import settings

    from django_async_backend.db import async_connections

    from .workload import transfer

    rng = random.Random(0)
    # Quiet: kept connections go back to the pool (KEEP_CONNECTION_SECONDS).
    await asyncio.sleep(settings.ASYNC_BACKEND_KEEP_CONNECTION_SECONDS + 1.0)
    pool = async_connections.pool("default")
    idle = pool.get_stats().get("pool_available", 0) if pool is not None else 0
    await asyncio.to_thread(cluster.stop, "fast")
    await asyncio.to_thread(cluster.start)
    up_at = time.monotonic()
    first: list[bool] = []
    recovery = None
    for _ in range(max(idle, 3)):
        operation = await asyncio.create_task(transfer(ledger, rng))
        first.append(operation.outcome == "committed")
        if recovery is None and operation.outcome == "committed":
            recovery = round(operation.finished - up_at, 3)
    return first, recovery


async def _read_back(backend: str, cluster: Any) -> dict[str, Any]:
    """The database's state, read without the system under test."""
    from django.conf import settings

    from .models import Account, Transfer

    accounts = Account._meta.db_table
    transfers = Transfer._meta.db_table
    queries = (
        f"SELECT key, source, target, amount FROM {transfers}",
        f"SELECT id, balance FROM {accounts}",
    )
    if backend == "postgresql":
        import psycopg

        with psycopg.connect(**cluster.connect_kwargs("chaos")) as conn:
            rows = conn.execute(queries[0]).fetchall()
            balances = dict(conn.execute(queries[1]).fetchall())
    else:
        import sqlite3

        reader = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=10)
        try:
            rows = reader.execute(queries[0]).fetchall()
            balances = dict(reader.execute(queries[1]).fetchall())
        finally:
            reader.close()
    return {
        "keys": {row[0] for row in rows},
        "transfers": [(row[1], row[2], row[3]) for row in rows],
        "balances": balances,
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        **{name: version(name) for name in ("django", "psycopg", "psycopg-pool")},
    }


if __name__ == "__main__":
    raise SystemExit(main())
