"""The conformance table: every check of :mod:`.checks`, for ours and each peer.

    python -m benchmarks.libsql.conformance [--contenders ours_async,...]

Each contender runs the checks in a client process of its own interpreter
(the peers' virtualenvs), against a sqld started fresh for it, so no contender
sees another's rows or a server a previous one broke. Ours runs twice: the
async path (a-methods, ``async_atomic``) and the sync path (the sync ORM).
Django's SQLite backend on a local file is the reference column: a check it
fails is a wrong check. The results go to ``benchmarks/libsql/results.json``
and the libSQL section of ``benchmarks/RESULTS.md`` (:mod:`.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .checks import CHECKS
from .contenders import CONTENDERS, Contender
from .server import Sqld

CONFORMANCE_CONTENDERS = [
    "ours_async",
    "ours_sync",
    "libsql_backend",
    "django_libsql",
    "stock_sqlite",
]
TIMEOUT = 300.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def client_env(contender: Contender, url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "BENCH_LIBSQL_CONTENDER": contender.name,
        "BENCH_LIBSQL_URL": url,
    }
    for name in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    return env


def run_checks(contender: Contender, url: str) -> dict[str, dict[str, Any]]:
    """The checks' outcomes by key; checks that never ran say why."""
    path = "sync" if contender.threaded else "async"
    command = [contender.python(), "-m", "benchmarks.libsql.checks", path]
    failure = ""
    try:
        done = subprocess.run(
            command,
            cwd=contender.cwd(),
            env=client_env(contender, url),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        stdout, stderr = done.stdout, done.stderr
        if done.returncode != 0:
            lines = [line for line in stderr.strip().splitlines() if line.strip()]
            failure = f"the client process failed: {(lines or ['?'])[-1][:120]}"
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else ""
        stderr = ""
        failure = f"the client process hung for {TIMEOUT:.0f} s"
    outcomes: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            outcomes[row["check"]] = {"ok": row["ok"], "reason": row["reason"]}
    for key, _ in CHECKS:
        outcomes.setdefault(key, {"ok": False, "reason": failure or "did not run"})
    if failure:
        log(f"{contender.name}: {failure}\n{stderr[-2000:]}")
    return outcomes


def run(names: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        contender = CONTENDERS[name]
        if not contender.available():
            log(f"{name}: {contender.python()} is missing (scripts/bench builds it)")
            results[name] = {
                key: {"ok": False, "reason": "not installed"} for key, _ in CHECKS
            }
            continue
        started = time.monotonic()
        if contender.local:
            with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as directory:
                results[name] = run_checks(contender, f"{directory}/db.sqlite3")
        else:
            with Sqld() as server:
                results[name] = run_checks(contender, server.url)
        passed = sum(o["ok"] for o in results[name].values())
        log(
            f"conformance {name:15} {passed}/{len(CHECKS)} "
            f"in {time.monotonic() - started:.1f} s"
        )
    return results


def versions(names: list[str]) -> dict[str, str]:
    """Each contender's Django and package versions, from its interpreter."""
    script = (
        "import importlib.metadata as m, platform\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return None\n"
        "print(' '.join(f'{n} {v(n)}' for n in ('django', 'django-libsql-backend', "
        "'django-libsql', 'libsql-client') if v(n)) + ', Python ' "
        "+ platform.python_version())\n"
    )
    found = {}
    for name in names:
        contender = CONTENDERS[name]
        if not contender.available():
            continue
        done = subprocess.run(
            [contender.python(), "-c", script],
            capture_output=True,
            text=True,
            check=False,
            cwd=contender.cwd(),
        )
        found[name] = done.stdout.strip() or done.stderr.strip()[-200:]
    return found


def collect(names: list[str]) -> dict[str, Any]:
    """The conformance part of ``results.json``."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": versions(names),
        "results": run(names),
    }


def main(argv: list[str]) -> None:
    from . import report

    parser = argparse.ArgumentParser(prog="benchmarks.libsql.conformance")
    parser.add_argument(
        "--contenders",
        type=lambda s: s.split(","),
        default=CONFORMANCE_CONTENDERS,
    )
    parser.add_argument("--out", type=Path, default=report.HERE)
    args = parser.parse_args(argv)
    raw = report.load(args.out)
    raw["conformance"] = collect(args.contenders)
    report.save(raw, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
