"""Python function calls per primary-key call: plain, prepared, bare psycopg.

    BENCH_DB=dab_bench_dev python -m benchmarks.profile_percall [--calls 2000]

The profile behind ``profile.md``'s "Prepared querysets" table: cProfile over
sequential calls of ``benchmarks/percall.py``'s variants (one task, one
connection), the calls grouped by where their code lives. Call counts don't
depend on the machine's load; the time shares do, a little.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import pstats
import random
import sys

from . import percall
from .contenders import setup_django

GROUPS = (
    ("django_async_backend", "ours"),
    ("/django/", "Django"),
    ("psycopg", "psycopg"),
    ("asyncio", "asyncio and selectors"),
    ("selectors", "asyncio and selectors"),
)


def group_of(filename: str) -> str:
    for marker, group in GROUPS:
        if marker in filename:
            return group
    return "builtins and the rest"


async def profile(calls: int) -> None:
    setup_django("ours")
    ours = await percall._ours("default")
    connection, bare = await percall._bare(client_binding=False)
    variants = {
        "plain aget": ours["plain:pk_get"][0],
        "prepared aget": ours["prepared:pk_get"][0],
        "bare psycopg": bare["pk_get"],
    }
    for name, call in variants.items():
        rng = random.Random(1)
        for _ in range(max(50, calls // 10)):
            await call(rng)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            await call(rng)
        profiler.disable()
        counts: collections.Counter[str] = collections.Counter()
        times: collections.Counter[str] = collections.Counter()
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        for (filename, _, _), (_, ncalls, tottime, _, _) in stats.items():
            counts[group_of(filename)] += ncalls
            times[group_of(filename)] += tottime
        total_time = sum(times.values()) or 1.0
        print(f"{name}: ~{sum(counts.values()) / calls:.0f} calls per call")
        for group, count in counts.most_common():
            share = 100 * times[group] / total_time
            print(f"  {group}: ~{count / calls:.0f} ({share:.0f}%)")
    await connection.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.profile_percall")
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(profile(parser.parse_args(argv).calls))


if __name__ == "__main__":
    main(sys.argv[1:])
