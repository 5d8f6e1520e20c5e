"""Profile one contender on one workload, in this process.

    python -m benchmarks.profile ours pk_get [--concurrency 32] [--seconds 3]
        [--calls]         # cProfile: Python function calls per request
        [--html out.html] # pyinstrument's HTML report instead of text

Needs ``BENCH_DB`` naming a prepared benchmark database
(``python -m benchmarks.cell --prepare``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys

from . import load
from .contenders import build


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.profile")
    parser.add_argument("contender")
    parser.add_argument("workload")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--calls", action="store_true")
    parser.add_argument("--html")
    args = parser.parse_args(argv)
    contender = build(args.contender)
    request = contender.requests[args.workload]

    def measure() -> load.Measurement:
        if contender.threaded:
            return load.run_threads(request, args.concurrency, 0.0, args.seconds)

        async def go() -> load.Measurement:
            try:
                return await load.run_async(
                    request, args.concurrency, 0.0, args.seconds
                )
            finally:
                if contender.close is not None:
                    await contender.close()

        return asyncio.run(go())

    # Warm up caches and the pool outside the profile.
    if contender.threaded:
        load.run_threads(request, args.concurrency, 0.0, 0.5)
    if args.calls:
        profiler = cProfile.Profile()
        profiler.enable()
        result = measure()
        profiler.disable()
        stats = pstats.Stats(profiler)
        calls = stats.total_calls  # type: ignore[attr-defined]
        print(f"{result.requests} requests, {calls / result.requests:.0f} calls each")
        stats.sort_stats("tottime").print_stats(35)
        return
    from pyinstrument import Profiler

    profiler2 = Profiler(interval=0.0005, async_mode="disabled")
    profiler2.start()
    result = measure()
    profiler2.stop()
    print(f"{result.requests} requests, {result.cpu_ms_per_request:.3f} ms CPU each")
    if args.html:
        with open(args.html, "w") as out:
            out.write(profiler2.output_html())
    else:
        print(profiler2.output_text(unicode=True, show_all=False))


if __name__ == "__main__":
    main(sys.argv[1:])
