"""The libSQL throughput matrix: every contender on one sqld, alternating.

    python -m benchmarks.libsql.run [--rounds 2] [--duration 1.5] [--quick] ...

One sqld, one data set (loaded by ``--loader``, ours' sync path by default).
For each workload and concurrency the contenders run one after the other,
``--rounds`` times (A B C D, A B C D, ...), each cell in a fresh client
process of the contender's interpreter (:mod:`.client`). The server's CPU
time over each client process is read from ``/proc`` (sqld runs here). After
a cell where every request failed, sqld is restarted on the same data, so
what the failing contender left (a held write lock, open streams) does not
fail the next.
``--quick`` is a smoke run (c = 1 and 8, tiny windows); nothing it prints is
a measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .client import WORKLOADS
from .conformance import client_env, log
from .contenders import CONTENDERS
from .server import Sqld

THROUGHPUT_CONTENDERS = ["ours_async", "ours_sync", "libsql_backend", "django_libsql"]


def run_client(
    name: str, url: str, cells: list[dict[str, Any]], server: Sqld | None = None
) -> list[dict[str, Any]]:
    contender = CONTENDERS[name]
    budget = sum(cell["warmup"] + cell["duration"] for cell in cells) + 60
    cpu_before = server.cpu_seconds() if server else 0.0
    try:
        done = subprocess.run(
            [
                contender.python(),
                "-m",
                "benchmarks.libsql.client",
                json.dumps({"cells": cells}),
            ],
            cwd=contender.cwd(),
            env=client_env(contender, url),
            capture_output=True,
            text=True,
            timeout=budget,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log(f"{name} client hung for {budget:.0f} s; recorded as failed")
        return [{**c, "contender": name, "failure": "hung"} for c in cells]
    server_cpu = (server.cpu_seconds() - cpu_before) if server else None
    if done.returncode != 0:
        last = [line for line in done.stderr.splitlines() if line.strip()][-1:]
        log(f"{name} client failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return [
            {**c, "contender": name, "failure": (last or ["failed"])[0][:200]}
            for c in cells
        ]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    for row in rows:
        row["contender"] = name
        row.setdefault("failure", None)
        if row["failure"]:
            continue
        # The whole process's server CPU (warm-up included) over its requests:
        # an upper bound, comparable between contenders.
        if server_cpu is not None and len(rows) == 1 and row["requests"]:
            total = row["requests"] * (1 + row["warmup"] / row["duration"])
            row["server_cpu_ms_per_request"] = server_cpu * 1000 / total
    return rows


def prepare(loader: str, url: str) -> None:
    contender = CONTENDERS[loader]
    done = subprocess.run(
        [contender.python(), "-m", "benchmarks.libsql.client", "--prepare"],
        cwd=contender.cwd(),
        env=client_env(contender, url),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loading the data set with {loader} failed:\n{done.stderr}")


def run_matrix(args: argparse.Namespace) -> dict[str, Any]:
    contenders = [c for c in args.contenders if CONTENDERS[c].available()]
    for missing in sorted(set(args.contenders) - set(contenders)):
        log(f"{missing}: {CONTENDERS[missing].python()} is missing; skipped")
    cells: list[dict[str, Any]] = []
    started = time.time()
    server = Sqld()
    server.start()
    try:
        log(f"sqld {server.url}: loading the data set with {args.loader}")
        prepare(args.loader, server.url)
        for workload in args.workloads:
            for concurrency in args.concurrency:
                for round_ in range(args.rounds):
                    for name in contenders:
                        cell = {
                            "workload": workload,
                            "concurrency": concurrency,
                            "warmup": args.warmup,
                            "duration": args.duration,
                        }
                        (row,) = run_client(name, server.url, [cell], server)
                        row["round"] = round_
                        cells.append(row)
                        if row["failure"]:
                            log(
                                f"{workload:8} c={concurrency:<3} {name:15} FAILED: "
                                f"{row['failure']}; restarting sqld (same data)"
                            )
                            # What a failed contender left on the server (a
                            # held write lock, open streams) must not fail
                            # the next one.
                            server.restart()
                            continue
                        log(
                            f"{workload:8} c={concurrency:<3} {name:15} "
                            f"{row['rps']:8.0f} req/s  p99 {row['p99_ms']:7.1f} ms  "
                            f"cpu {row['cpu_ms_per_request']:.3f} ms/req  "
                            f"server {row.get('server_cpu_ms_per_request', 0):.3f}"
                            f"  errors {row['errors']}"
                        )
    finally:
        server.close()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "runtime_seconds": round(time.time() - started),
        "rounds": args.rounds,
        "warmup": args.warmup,
        "duration": args.duration,
        "quick": args.quick,
        "cells": cells,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=0.75)
    parser.add_argument("--duration", type=float, default=1.5)
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 8, 32],
    )
    parser.add_argument(
        "--workloads", type=lambda s: s.split(","), default=list(WORKLOADS)
    )
    parser.add_argument(
        "--contenders", type=lambda s: s.split(","), default=THROUGHPUT_CONTENDERS
    )
    parser.add_argument("--loader", default="ours_sync")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: c=1,8, one round, 0.2 s windows (not a measurement)",
    )


QUICK = {"rounds": 1, "warmup": 0.2, "duration": 0.3, "concurrency": [1, 8]}


def apply_quick(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--quick``: smoke-run sizes for what the command line left at default."""
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)


def main(argv: list[str]) -> None:
    from . import report

    parser = argparse.ArgumentParser(prog="benchmarks.libsql.run", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=report.HERE)
    args = parser.parse_args(argv)
    apply_quick(args, parser)
    raw = report.load(args.out)
    raw["throughput"] = run_matrix(args)
    report.save(raw, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
