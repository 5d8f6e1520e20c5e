"""Everything libSQL: the conformance table, the throughput matrix, the report.

    python -m benchmarks.libsql [--quick] [--no-conformance] [--no-throughput]
                                [throughput options of benchmarks.libsql.run]

(``scripts/bench libsql`` is the documented command: it builds the peers'
virtualenvs and installs sqld first.) Writes ``benchmarks/libsql/results.json``
and the libSQL section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import conformance, report, run


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.libsql", description=__doc__)
    run.add_arguments(parser)
    parser.add_argument(
        "--conformance", action=argparse.BooleanOptionalAction, default=True
    )
    parser.add_argument(
        "--throughput", action=argparse.BooleanOptionalAction, default=True
    )
    parser.add_argument(
        "--conformance-contenders",
        type=lambda s: s.split(","),
        default=conformance.CONFORMANCE_CONTENDERS,
    )
    parser.add_argument("--out", type=Path, default=report.HERE)
    args = parser.parse_args(argv)
    run.apply_quick(args, parser)
    raw = report.load(args.out)
    if args.conformance:
        raw["conformance"] = conformance.collect(args.conformance_contenders)
        report.save(raw, args.out)
    if args.throughput:
        raw["throughput"] = run.run_matrix(args)
        report.save(raw, args.out)
    conformance.log(f"results: {args.out / 'results.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
