"""Start each server, load it with wrk, measure, stop it; alternating."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from ..run import ConnectionSampler, _pg_env, drop_database, log, recreate_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "examples"
CONTENDERS = ("ours", "stock_async", "stock_sync")
DATABASE = "dab_bench_e2e"
WSGI_THREADS = 32


def server_command(contender: str, port: int) -> tuple[list[str], dict[str, str]]:
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    if contender == "stock_sync":
        command = [
            sys.executable, "-m", "gunicorn", "benchmarks.e2e.wsgi:application",
            "--worker-class", "gthread", "--workers", "1",
            "--threads", str(WSGI_THREADS), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
        ]  # fmt: skip
        settings = "benchmarks.e2e.settings_sync"
    else:
        command = [
            sys.executable, "-m", "uvicorn", "library.asgi:application",
            "--app-dir", str(EXAMPLES), "--no-access-log", "--log-level", "warning",
            *bind,
        ]  # fmt: skip
        settings = (
            "library.settings"
            if contender == "ours"
            else "benchmarks.e2e.settings_stock"
        )
    env = {
        **os.environ,
        **_pg_env(),
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": database_url(),
        "EXAMPLE_DEBUG": "0",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{EXAMPLES}",
    }
    return command, env


def database_url() -> str:
    env = _pg_env()
    password = f":{env['PGPASSWORD']}" if env["PGPASSWORD"] else ""
    return (
        f"postgresql://{env['PGUSER']}{password}@{env['PGHOST']}:{env['PGPORT']}"
        f"/{DATABASE}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start in 30 s")


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        pids.extend(process_tree(int(child)))
    return pids


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        status = Path(f"/proc/{member}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total / 1024


def wrk(port: int, seconds: float, connections: int, books: int) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(HERE / "random_book.lua"),
            f"http://127.0.0.1:{port}",
        ],  # fmt: skip
        env={**os.environ, "BENCH_BOOKS": str(books)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(output)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, float]:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0

    requests = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests": int(requests.group(1)) if requests else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def prepare() -> int:
    recreate_database(DATABASE)
    command, env = server_command("ours", 0)
    subprocess.run(
        [sys.executable, str(EXAMPLES / "manage.py"), "prepare"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with psycopg.connect(database_url()) as conn:
        row = conn.execute("SELECT count(*) FROM catalog_book").fetchone()
    return int(row[0]) if row else 1


def measure(contender: str, args: argparse.Namespace, books: int) -> dict[str, Any]:
    port = free_port()
    command, env = server_command(contender, port)
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        wait_until_serving(port, server)
        wrk(port, 1, args.e2e_connections, books)  # warm-up: pools, caches
        with ConnectionSampler(DATABASE) as sampler:
            cpu = cpu_seconds(server.pid)
            result = wrk(port, args.e2e_duration, args.e2e_connections, books)
            cpu = cpu_seconds(server.pid) - cpu
        result.update(
            contender=contender,
            connections=args.e2e_connections,
            server_cpu_ms_per_request=cpu * 1000 / max(result["requests"], 1),
            server_peak_rss_mib=peak_rss_mib(server.pid),
            server_connections=sampler.peak,
        )
        return result
    finally:
        server.send_signal(
            signal.SIGINT if contender != "stock_sync" else signal.SIGTERM
        )
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    log(f"end-to-end: preparing {DATABASE}")
    books = prepare()
    results = []
    try:
        for round_ in range(args.rounds):
            for contender in CONTENDERS:
                row = measure(contender, args, books)
                row["round"] = round_
                results.append(row)
                log(
                    f"e2e c={args.e2e_connections} {contender:11} "
                    f"{row['rps']:8.0f} req/s  p99 {row['p99_ms']:6.1f} ms  "
                    f"server cpu {row['server_cpu_ms_per_request']:.3f} ms/req  "
                    f"conns {row['server_connections']}"
                )
    finally:
        drop_database(DATABASE)
    return results
