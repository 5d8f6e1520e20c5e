"""Closed-loop load: ``concurrency`` clients, each sending the next request
when the previous one is answered, for a warm-up and then a measured window.

Async contenders run each request in its own task (as an ASGI server does);
the threaded contender runs one thread per client (as a threaded WSGI server
does). Measured: requests completed in the window, their latencies, and the
process's CPU time (all threads) per request.
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Measurement:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_ms_per_request: float
    peak_rss_mib: float
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Window:
    """What the clients record; only while ``measuring``."""

    def __init__(self) -> None:
        self.measuring = False
        self.stop = False
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error: BaseException | None = None
        self.cpu = 0.0
        self.started = 0.0

    def open(self) -> None:
        self.cpu = time.process_time()
        self.started = time.perf_counter()
        self.measuring = True

    def close(self) -> tuple[float, float]:
        self.measuring = False
        return time.perf_counter() - self.started, time.process_time() - self.cpu

    def record(self, started: float, error: BaseException | None) -> None:
        if error is not None:
            self.errors += 1
            self.first_error = self.first_error or error
        elif self.measuring:
            self.latencies.append(time.perf_counter() - started)


def _measurement(window: _Window, elapsed: float, cpu: float) -> Measurement:
    latencies = sorted(window.latencies)
    count = len(latencies)
    if count:
        p50 = statistics.median(latencies)
        p99 = latencies[min(count - 1, int(count * 0.99))]
        worst = latencies[-1]
    else:
        p50 = p99 = worst = float("nan")
    return Measurement(
        requests=count,
        seconds=round(elapsed, 3),
        rps=count / elapsed,
        p50_ms=p50 * 1000,
        p99_ms=p99 * 1000,
        max_ms=worst * 1000,
        cpu_ms_per_request=cpu * 1000 / count if count else float("nan"),
        # Linux reports ru_maxrss in KiB.
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        errors=window.errors,
    )


async def run_async(
    request: Callable[[random.Random], Any],
    concurrency: int,
    warmup: float,
    duration: float,
    seed: int = 0,
) -> Measurement:
    loop = asyncio.get_running_loop()
    window = _Window()

    async def client(rng: random.Random) -> None:
        while not window.stop:
            started = time.perf_counter()
            try:
                await loop.create_task(request(rng))
            except Exception as exc:
                window.record(started, exc)
            else:
                window.record(started, None)

    clients = [
        loop.create_task(client(random.Random(seed * 1000 + n)))
        for n in range(concurrency)
    ]
    await asyncio.sleep(warmup)
    window.open()
    await asyncio.sleep(duration)
    elapsed, cpu = window.close()
    window.stop = True
    await asyncio.gather(*clients)
    _raise_if_all_failed(window)
    return _measurement(window, elapsed, cpu)


def run_threads(
    request: Callable[[random.Random], Any],
    concurrency: int,
    warmup: float,
    duration: float,
    seed: int = 0,
) -> Measurement:
    window = _Window()

    def client(rng: random.Random) -> None:
        while not window.stop:
            started = time.perf_counter()
            try:
                request(rng)
            except Exception as exc:
                window.record(started, exc)
            else:
                window.record(started, None)

    threads = [
        threading.Thread(target=client, args=(random.Random(seed * 1000 + n),))
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    window.open()
    time.sleep(duration)
    elapsed, cpu = window.close()
    window.stop = True
    for thread in threads:
        thread.join()
    _raise_if_all_failed(window)
    return _measurement(window, elapsed, cpu)


def _raise_if_all_failed(window: _Window) -> None:
    if window.first_error is not None and not window.latencies:
        raise RuntimeError("every request failed") from window.first_error
