"""Start each server, load it with wrk, measure, stop it; alternating.

For every workload (``page``, ``write``) and concurrency, each contender on
each of its servers is started fresh, warmed up, loaded by ``wrk`` (a
separate process) for the measured window, and stopped; the order
alternates contender by contender, round after round. Server CPU comes from
``/proc`` (the server's whole process tree). A separate, untimed run counts
the thread hops per request of each async contender.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ..run import (
    ISOLATED_PATH,
    ConnectionSampler,
    _pg_env,
    drop_database,
    log,
    recreate_database,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATABASE = "dab_bench_e2e"
WORKLOADS = ("page", "write")
WSGI_THREADS = 32
ASYNC = ("ours", "ours_prepared", "stock_async", "upstream")

# (contender, server): every pair runs, the async ones on two ASGI servers
# and the sync one on two WSGI servers, one worker each.
SERVERS = (
    ("ours", "uvicorn"),
    ("ours_prepared", "uvicorn"),
    ("stock_async", "uvicorn"),
    ("upstream", "uvicorn"),
    ("stock_sync", "gunicorn"),
    ("ours", "granian"),
    ("ours_prepared", "granian"),
    ("stock_async", "granian"),
    ("upstream", "granian"),
    ("stock_sync", "granian"),
)


def server_command(
    contender: str, server: str, port: int, upstream_python: str | None
) -> list[str]:
    python = upstream_python if contender == "upstream" else sys.executable
    if python is None:
        raise ValueError("the upstream contender needs --upstream-python")
    where = ["--host", "127.0.0.1", "--port", str(port)]
    if server == "uvicorn":
        return [
            python, "-m", "uvicorn", "benchmarks.e2e.asgi:application", *where,
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
    if server == "gunicorn":
        return [
            python, "-m", "gunicorn", "benchmarks.e2e.wsgi:application",
            "--worker-class", "gthread", "--workers", "1",
            "--threads", str(WSGI_THREADS), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
        ]  # fmt: skip
    if contender == "stock_sync":
        return [
            python, "-m", "granian", "--interface", "wsgi", "--workers", "1",
            "--blocking-threads", str(WSGI_THREADS), "--no-ws", "--no-access-log",
            "--log-level", "warning", *where, "benchmarks.e2e.wsgi:application",
        ]  # fmt: skip
    return [
        python, "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
        "--workers", "1", "--no-ws", "--no-access-log", "--log-level", "warning",
        *where, "benchmarks.e2e.asgi:application",
    ]  # fmt: skip


def server_env(
    contender: str, database: str, **extra: str
) -> tuple[dict[str, str], Path]:
    env = {
        **os.environ,
        **_pg_env(),
        "BENCH_DB": database,
        "BENCH_E2E_CONTENDER": contender,
        "DJANGO_SETTINGS_MODULE": "benchmarks.e2e.settings",
        **extra,
    }
    env.pop("PYTHONPATH", None)
    if contender == "upstream":
        # Its package is also called django_async_backend: it must not see
        # this checkout's, so it imports ``benchmarks`` from a path of its own.
        ISOLATED_PATH.mkdir(parents=True, exist_ok=True)
        link = ISOLATED_PATH / "benchmarks"
        if not link.exists():
            link.symlink_to(HERE.parent)
        env["BENCH_UPSTREAM"] = "1"
        return env, ISOLATED_PATH
    return env, ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One contender's server process, started and stopped around a cell."""

    def __init__(
        self,
        contender: str,
        server: str,
        database: str,
        upstream_python: str | None,
        **extra_env: str,
    ) -> None:
        self.contender, self.server = contender, server
        self.port = free_port()
        env, cwd = server_env(contender, database, **extra_env)
        command = server_command(contender, server, self.port, upstream_python)
        # A session (process group) of its own: granian's worker is a child
        # process, which outlived a parent killed alone and kept its
        # PostgreSQL connections open.
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, start_new_session=True
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.contender} on {self.server} exited with "
                    f"{self.process.returncode}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"{self.contender} on {self.server} did not start in 30 s")

    def __exit__(self, *exc: object) -> None:
        group = self.process.pid  # the session's leader: its group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            pass
        # Whatever of the group is left (the leader, or a worker it left
        # behind) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()
        # A worker orphaned by its parent is reaped by init, a moment later:
        # the next cell starts only when the group (and its connections) is gone.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids.extend(process_tree(int(child)))
    return pids


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total / 1024


# wrk leaves a response slower than its timeout (2 s by default) out of its
# latency histogram and counts it as a timeout instead: at c = 128 a saturated
# contender's p99 then reads just under 2 s however long its requests take.
# A timeout far above any cell's latency keeps every response in the figures.
WRK_TIMEOUT = "30s"


def wrk(
    url: str, workload: str, seconds: float, connections: int, login: dict[str, Any]
) -> dict[str, Any]:
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            WRK_TIMEOUT,
            "-s",
            str(HERE / "request.lua"),
            url,
        ],  # fmt: skip
        env={
            **os.environ,
            "BENCH_PATH": workload,
            "BENCH_COOKIE": login["cookie"],
            "BENCH_CSRF": login["csrftoken"],
            "BENCH_MAX": str(
                login["books"] if workload == "page" else login["authors"]
            ),
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(output)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0

    requests = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    timeouts = socket_errors and re.search(r"timeout (\d+)", socket_errors.group(1))
    return {
        "requests": int(requests.group(1)) if requests else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def prepare(database: str) -> dict[str, Any]:
    """Create the database, its tables and rows, and a logged-in session."""
    recreate_database(database)
    env, cwd = server_env("stock_sync", database)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.e2e.prepare"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(
    contender: str,
    server: str,
    workload: str,
    connections: int,
    args: argparse.Namespace,
    login: dict[str, Any],
    database: str,
) -> dict[str, Any]:
    with Server(contender, server, database, args.upstream_python) as running:
        wrk(running.url, workload, 1, connections, login)  # warm-up
        with ConnectionSampler(database) as sampler:
            cpu = cpu_seconds(running.pid)
            result = wrk(running.url, workload, args.e2e_duration, connections, login)
            cpu = cpu_seconds(running.pid) - cpu
        result.update(
            contender=contender,
            server=server,
            workload=workload,
            connections=connections,
            server_cpu_ms_per_request=cpu * 1000 / max(result["requests"], 1),
            server_peak_rss_mib=peak_rss_mib(running.pid),
            server_connections=sampler.peak,
        )
    return result


def count_hops(
    contender: str, args: argparse.Namespace, login: dict[str, Any], database: str
) -> dict[str, Any]:
    """Thread hops per request of each workload, in an untimed run."""
    requests = 20
    counted: dict[str, Any] = {"contender": contender}
    with Server(
        contender, "uvicorn", database, args.upstream_python, BENCH_COUNT_HOPS="1"
    ) as running:
        headers = {"Cookie": login["cookie"], "X-CSRFToken": login["csrftoken"]}
        with httpx.Client(base_url=running.url, headers=headers) as client:
            for workload in WORKLOADS:
                client.get("/hops/")
                for n in range(1, requests + 1):
                    if workload == "page":
                        response = client.get(f"/page/{n}/")
                    else:
                        response = client.post(f"/write/{n}/")
                    response.raise_for_status()
                hops = client.get("/hops/").json()["hops"]
                counted[workload] = hops / requests
    return counted


def run(args: argparse.Namespace) -> dict[str, Any]:
    database = getattr(args, "e2e_database", DATABASE)
    log(f"end-to-end: preparing {database}")
    login = prepare(database)
    pairs = [
        pair
        for pair in SERVERS
        if pair[0] != "upstream" or args.upstream_python is not None
    ]
    cells: list[dict[str, Any]] = []
    hops: list[dict[str, Any]] = []
    try:
        for contender in dict.fromkeys(c for c, _ in pairs if c in ASYNC):
            hops.append(count_hops(contender, args, login, database))
            log(f"e2e hops per request {hops[-1]}")
        for round_ in range(args.rounds):
            for workload in WORKLOADS:
                for connections in args.e2e_connections:
                    for contender, server in pairs:
                        row = measure(
                            contender, server, workload, connections, args, login,
                            database,
                        )  # fmt: skip
                        row["round"] = round_
                        cells.append(row)
                        log(
                            f"e2e {workload} c={connections} {contender:11} "
                            f"{server:8} {row['rps']:7.0f} req/s  p99 "
                            f"{row['p99_ms']:6.1f} ms  cpu "
                            f"{row['server_cpu_ms_per_request']:.2f} ms/req  "
                            f"non-2xx {row['errors']}  timeouts "
                            f"{row.get('timeouts', 0)}"
                        )
    finally:
        drop_database(database)
    return {"cells": cells, "hops": hops}
