"""Profile one libSQL contender on one workload (cProfile), on a sqld of its own.

    python -m benchmarks.libsql.profile [pk_get] [--concurrency 8]
        [--duration 3] [--top 25] [--sort tottime]

Starts a sqld, loads the data set (ours' sync path), then runs the closed
loop of :mod:`benchmarks.load` in this process under cProfile and prints the
top functions, with the requests/s of the profiled window (slowed down by
the profiler: compare functions, not throughput). Ours' async path only:
cProfile sees one thread, and the async path runs every request on the
event loop's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys

from .client import WORKLOADS
from .conformance import client_env
from .contenders import CONTENDERS
from .server import Sqld


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.libsql.profile")
    parser.add_argument("workload", nargs="?", default="pk_get", choices=WORKLOADS)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args(argv)
    contender = CONTENDERS["ours_async"]
    with Sqld() as server:
        env = client_env(CONTENDERS["ours_sync"], server.url)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.libsql.client", "--prepare"],
            cwd=contender.cwd(), env=env, check=True,
        )  # fmt: skip
        os.environ.update(client_env(contender, server.url))
        from . import client

        client.setup()
        from django_async_backend.db import async_connections

        from .. import load, workloads

        profiler = cProfile.Profile()
        work = workloads.orm_async(native_atomic=True)[args.workload]

        async def run() -> load.Measurement:
            try:
                profiler.enable()
                return await load.run_async(work, args.concurrency, 0.5, args.duration)
            finally:
                profiler.disable()
                await async_connections.close_all()

        result = asyncio.run(run())
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats(args.sort).print_stats(args.top)
    print(
        f"ours_async {args.workload} c={args.concurrency}: "
        f"{result.rps:.0f} req/s under cProfile, "
        f"{result.cpu_ms_per_request:.3f} ms CPU per request"
    )
    print(text.getvalue())


if __name__ == "__main__":
    main(sys.argv[1:])
