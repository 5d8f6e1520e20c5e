"""One client process: one contender, one or more cells, JSON lines out.

    python -m benchmarks.cell '{"contender": "ours", "cells": [
        {"workload": "pk_get", "concurrency": 32, "warmup": 0.5, "duration": 2}]}'
    python -m benchmarks.cell --prepare     # create tables and rows (stock ORM)

The orchestrator (``benchmarks.run``) starts one per cell so that peak RSS is
the cell's own; the upstream package's runs in its own virtualenv.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from . import load
from .contenders import Contender, build, setup_django


def run_cells(contender: Contender, cells: list[dict[str, Any]]) -> None:
    async def run_async() -> None:
        try:
            for cell in cells:
                request = contender.requests[cell["workload"]]
                result = await load.run_async(
                    request, cell["concurrency"], cell["warmup"], cell["duration"]
                )
                emit(contender.name, cell, result)
        finally:
            if contender.close is not None:
                await contender.close()

    if contender.threaded:
        for cell in cells:
            request = contender.requests[cell["workload"]]
            result = load.run_threads(
                request, cell["concurrency"], cell["warmup"], cell["duration"]
            )
            emit(contender.name, cell, result)
    else:
        asyncio.run(run_async())


def emit(name: str, cell: dict[str, Any], result: load.Measurement) -> None:
    print(json.dumps({"contender": name, **cell, **result.as_dict()}), flush=True)


def main(argv: list[str]) -> None:
    if argv == ["--prepare"]:
        from . import data

        setup_django("stock_sync")
        data.load()
        return
    spec = json.loads(argv[0])
    run_cells(build(spec["contender"]), spec["cells"])


if __name__ == "__main__":
    main(sys.argv[1:])
