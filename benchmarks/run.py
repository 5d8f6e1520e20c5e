"""The benchmark run: every contender, workload and concurrency, alternating.

    python -m benchmarks.run [--rounds 2] [--duration 1.5] [--warmup 0.5] ...

(``scripts/bench`` is the documented command: it prepares the environments
first.) For each workload and concurrency the contenders run one after the
other, ``--rounds`` times (A B C A B C ...), each cell in a fresh client
process; meanwhile the server's connections to the benchmark database are
sampled from ``pg_stat_activity``. Then the end-to-end run (``benchmarks.e2e``)
and the report (``benchmarks.report``: RESULTS.md and plots).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from .contenders import CONTENDERS
from .workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
# The upstream package is also called ``django_async_backend``: its process
# must not see this checkout, so it imports ``benchmarks`` from here.
ISOLATED_PATH = ROOT / ".cache" / "bench-path"


def admin_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(dbname="postgres", autocommit=True, **_pg_params())


def _pg_params() -> dict[str, str]:
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
        "password": os.environ.get("PGPASSWORD", ""),
    }


def recreate_database(name: str) -> None:
    if not name.startswith("dab_bench"):
        raise SystemExit(f"refusing to drop {name!r}: not a benchmark database")
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ConnectionSampler:
    """Samples the server's connection count to one database in a thread."""

    def __init__(self, database: str, interval: float = 0.05) -> None:
        self.database = database
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with admin_connection() as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                    (self.database,),
                ).fetchone()
                self.peak = max(self.peak, row[0] if row else 0)
                self._stop.wait(self.interval)


def client_command(
    contender: str, spec: dict[str, Any], upstream_python: str | None
) -> tuple[list[str], Path]:
    payload = json.dumps({"contender": contender, **spec})
    if contender == "upstream":
        if upstream_python is None:
            raise ValueError("upstream needs --upstream-python")
        ISOLATED_PATH.mkdir(parents=True, exist_ok=True)
        link = ISOLATED_PATH / "benchmarks"
        if not link.exists():
            link.symlink_to(HERE)
        return [upstream_python, "-m", "benchmarks.cell", payload], ISOLATED_PATH
    return [sys.executable, "-m", "benchmarks.cell", payload], ROOT


FAILED = {
    "requests": 0,
    "seconds": 0.0,
    "rps": 0.0,
    "p50_ms": float("nan"),
    "p99_ms": float("nan"),
    "max_ms": float("nan"),
    "cpu_ms_per_request": float("nan"),
    "peak_rss_mib": float("nan"),
    "errors": 1,
    "server_connections": None,
}


def run_client(
    contender: str,
    cells: list[dict[str, Any]],
    database: str,
    upstream_python: str | None,
    sample: bool = True,
) -> list[dict[str, Any]]:
    """Run ``cells`` in one client process; return its JSON lines."""
    command, cwd = client_command(contender, {"cells": cells}, upstream_python)
    env = {**os.environ, "BENCH_DB": database, **_pg_env()}
    env.pop("PYTHONPATH", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    sampler = ConnectionSampler(database) if sample else None
    if sampler:
        sampler.__enter__()
    budget = sum(cell["warmup"] + cell["duration"] for cell in cells) + 30
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=budget,
        )
    except subprocess.TimeoutExpired:
        # A client that hangs (pool exhaustion, a deadlock) is a result too.
        log(f"{contender} client hung for {budget:.0f} s; recorded as failed")
        return [
            {"contender": contender, **cell, **FAILED, "failure": "hung"}
            for cell in cells
        ]
    finally:
        if sampler:
            sampler.__exit__(None, None, None)
    if done.returncode != 0:
        raise RuntimeError(
            f"{contender} client failed ({done.returncode}):\n{done.stderr[-4000:]}"
        )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    for row in rows:
        row["server_connections"] = sampler.peak if sampler else None
        row["failure"] = None
    return rows


def _pg_env() -> dict[str, str]:
    params = _pg_params()
    return {
        "PGHOST": params["host"],
        "PGPORT": params["port"],
        "PGUSER": params["user"],
        "PGPASSWORD": params["password"],
    }


def prepare(database: str) -> None:
    recreate_database(database)
    env = {**os.environ, "BENCH_DB": database, **_pg_env()}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "-m", "benchmarks.cell", "--prepare"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def supports(contender: str, workload: str) -> bool:
    # The upstream package has no prefetch_related.
    return not (contender == "upstream" and workload == "prefetch")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_matrix(args: argparse.Namespace, database: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for workload in args.workloads:
        for concurrency in args.concurrency:
            for round_ in range(args.rounds):
                for contender in args.contenders:
                    if not supports(contender, workload):
                        continue
                    cell = {
                        "workload": workload,
                        "concurrency": concurrency,
                        "warmup": args.warmup,
                        "duration": args.duration,
                    }
                    (row,) = run_client(
                        contender, [cell], database, args.upstream_python
                    )
                    row["round"] = round_
                    results.append(row)
                    log(
                        f"{workload:8} c={concurrency:<3} {contender:11} "
                        f"{row['rps']:8.0f} req/s  p99 {row['p99_ms']:6.1f} ms  "
                        f"max {row['max_ms']:6.0f} ms  "
                        f"cpu {row['cpu_ms_per_request']:.3f} ms/req  "
                        f"conns {row['server_connections']}"
                    )
    return results


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=0.75)
    parser.add_argument("--duration", type=float, default=1.5)
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 8, 32, 128],
    )
    parser.add_argument(
        "--workloads", type=lambda s: s.split(","), default=list(WORKLOADS)
    )
    parser.add_argument(
        "--contenders", type=lambda s: s.split(","), default=list(CONTENDERS)
    )
    parser.add_argument("--upstream-python", default=None)
    parser.add_argument("--database", default="dab_bench_run")
    parser.add_argument("--e2e", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--e2e-duration", type=float, default=5.0)
    parser.add_argument(
        "--e2e-connections",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[32, 128],
    )
    parser.add_argument(
        "--e2e-only",
        action="store_true",
        help="skip the in-process matrix (keep its last results.json cells)",
    )
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--command", default="python -m benchmarks.run")
    args = parser.parse_args(argv)
    if args.upstream_python is None:
        if "upstream" in args.contenders:
            args.contenders.remove("upstream")
    else:
        # Absolute, but not resolved: the venv's python is a symlink.
        args.upstream_python = os.path.abspath(args.upstream_python)
    return args


def main(argv: list[str]) -> None:
    from . import e2e, report

    args = parse_args(argv)
    meta = report.environment(args)
    started = time.time()
    if args.e2e_only:
        previous = json.loads((args.out / "results.json").read_text())
        results = previous["cells"]
        meta = {**previous["meta"], **{k: v for k, v in meta.items() if "e2e" in k}}
    else:
        log(f"preparing {args.database}")
        prepare(args.database)
        try:
            results = run_matrix(args, args.database)
        finally:
            drop_database(args.database)
    args.out.mkdir(parents=True, exist_ok=True)
    raw: dict[str, Any] = {"meta": meta, "cells": results, "e2e": {}}
    (args.out / "results.json").write_text(json.dumps(raw, indent=1))
    if args.e2e:
        try:
            raw["e2e"] = e2e.run(args)
        except Exception as exc:  # keep the matrix's results
            log(f"end-to-end run failed: {exc!r}")
            meta["e2e_error"] = repr(exc)
    meta["runtime_seconds"] = round(time.time() - started)
    meta["load_end"] = report.loadavg()
    (args.out / "results.json").write_text(json.dumps(raw, indent=1))
    report.write(raw, args.out)
    log(f"done in {meta['runtime_seconds']} s: {args.out / 'RESULTS.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
