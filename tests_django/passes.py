"""Run one pass of Django's suite (``runtests.py``) and collect its outcomes.

Each pass is a subprocess in its own process group: a pass that outlives its
timeout is killed and reported as timed out, with the outcomes it reached
(the recording runner writes them as they happen). Progress (tests done of
the total, elapsed time) is printed while it runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["OUTCOMES", "PassResult", "load_pass", "run_pass"]

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(__file__).resolve().parent / "work"

# Worst first: a test with several outcomes (subtests, a failing tearDown)
# keeps the worst one.
OUTCOMES = (
    "error",
    "failed",
    "unexpected_success",
    "passed",
    "expected_failure",
    "skipped",
)
_RANK = {name: rank for rank, name in enumerate(OUTCOMES)}
_RAN = re.compile(r"^Ran (\d+) tests? in ", re.MULTILINE)


@dataclass
class PassResult:
    name: str
    command: list[str]
    labels: list[str]
    outcomes: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    planned: int | None = None
    seconds: float = 0.0
    returncode: int | None = None
    timed_out: bool = False
    hops: list[dict[str, str]] = field(default_factory=list)
    log: str = ""

    def counts(self) -> dict[str, int]:
        counts = {name: 0 for name in OUTCOMES}
        for outcome in self.outcomes.values():
            counts[outcome] += 1
        counts["tests"] = len(self.outcomes)
        return counts

    @property
    def tests_run(self) -> int | None:
        """``Ran N tests`` from the log: the runner reached its summary.

        A crashed runner (a worker's unpicklable error broke the pool once)
        or a killed one never prints it. The count of recorded outcomes can't
        tell: a class whose ``setUpClass`` fails records one error for all
        its tests.
        """
        try:
            text = Path(self.log).read_text(errors="replace")
        except OSError:
            return None
        match = _RAN.search(text)
        return int(match.group(1)) if match else None

    @property
    def complete(self) -> bool:
        return not self.timed_out and self.tests_run is not None


class _EventReader:
    def __init__(self, path: Path, result: PassResult) -> None:
        self._path = path
        self._offset = 0
        self._result = result

    def read(self) -> None:
        if not self._path.exists():
            return
        with self._path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            event = json.loads(line)
            if event["kind"] == "total":
                self._result.planned = event["count"]
                continue
            test, outcome = event["id"], event["outcome"]
            known = self._result.outcomes.get(test)
            if known is None or _RANK[outcome] < _RANK[known]:
                self._result.outcomes[test] = outcome
                if event.get("detail"):
                    self._result.details[test] = event["detail"]


def server_conninfo() -> str:
    """libpq connection string for the configured server (DATABASE_URL/PG*)."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(**_server_params())


def _server_params() -> dict[str, str]:
    from django_async_backend.utils.database_url import database_from_env

    entry = database_from_env()
    params = {
        "dbname": entry["NAME"],
        "host": entry["HOST"],
        "port": entry["PORT"],
        "user": entry["USER"],
        "password": entry["PASSWORD"],
    }
    return {key: value for key, value in params.items() if value}


def drop_leftover_databases(name: str) -> list[str]:
    """Drop the test databases a killed pass left (``<prefix><name>...``)."""
    import psycopg
    import psycopg.sql

    from .settings.common import database_prefix

    base = f"{database_prefix()}{name}"
    pattern = base.replace("_", "\\_") + "%"
    with psycopg.connect(server_conninfo(), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern]
        ).fetchall()
        dropped = []
        for (database,) in rows:
            if database == base or database.startswith(f"{base}_"):
                connection.execute(
                    psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        psycopg.sql.Identifier(database)
                    )
                )
                dropped.append(database)
    return dropped


def _read_hops(work: Path, result: PassResult) -> None:
    for hop_file in sorted(work.glob("hops-*.jsonl")):
        with hop_file.open() as file:
            result.hops.extend(json.loads(line) for line in file if line.strip())


def _save_summary(work: Path, result: PassResult) -> None:
    summary = {
        "command": result.command,
        "labels": result.labels,
        "seconds": result.seconds,
        "returncode": result.returncode,
        "timed_out": result.timed_out,
        "log": result.log,
    }
    (work / "pass.json").write_text(json.dumps(summary, indent=2) + "\n")


def load_pass(name: str) -> PassResult:
    """A finished pass again, from what it left in ``work/<name>/``."""
    work = WORK / name
    summary = json.loads((work / "pass.json").read_text())
    result = PassResult(
        name=name,
        command=summary["command"],
        labels=summary["labels"],
        seconds=summary["seconds"],
        returncode=summary["returncode"],
        timed_out=summary["timed_out"],
        log=summary["log"],
    )
    _EventReader(work / "events.jsonl", result).read()
    _read_hops(work, result)
    return result


def _format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def run_pass(
    name: str,
    tests_dir: Path,
    labels: list[str],
    *,
    parallel: int,
    timeout: float,
    native: bool = False,
    progress_every: float = 15.0,
    postgresql: bool = True,
) -> PassResult:
    """Run ``runtests.py`` with ``tests_django.settings.<name>``.

    ``postgresql=False`` (the SQLite and libSQL passes): no test databases to
    drop on the PostgreSQL server afterwards.
    """
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for stale in [*work.glob("*.jsonl"), *work.glob("pass.json")]:
        stale.unlink()
    events = work / "events.jsonl"
    log = WORK / f"{name}.log"
    command = [
        sys.executable,
        "runtests.py",
        "--settings",
        f"tests_django.settings.{name}",
        "--parallel",
        str(parallel),
        "--noinput",
        "-v",
        "1",
        *labels,
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["DAB_TD_EVENTS"] = str(events)
    env.pop("DAB_TD_NATIVE", None)
    if native:
        env["DAB_TD_NATIVE"] = "1"
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = PassResult(name=name, command=command, labels=labels, log=str(log))
    reader = _EventReader(events, result)
    started = time.monotonic()
    print(f"[{name}] runtests.py {' '.join(command[2:])}", flush=True)
    print(f"[{name}] log: {log}", flush=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=tests_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        next_report = started + progress_every
        while True:
            try:
                result.returncode = process.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if now - started > timeout:
                result.timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                result.returncode = process.wait()
                break
            if now >= next_report:
                next_report = now + progress_every
                reader.read()
                total = result.planned if result.planned is not None else "?"
                print(
                    f"[{name}] {len(result.outcomes)}/{total} tests, "
                    f"{_format_seconds(now - started)} elapsed",
                    flush=True,
                )
    result.seconds = time.monotonic() - started
    reader.read()
    dropped = drop_leftover_databases(name) if postgresql else []
    if dropped:
        print(f"[{name}] dropped leftover databases: {', '.join(dropped)}")
    _read_hops(work, result)
    _save_summary(work, result)
    state = "TIMED OUT" if result.timed_out else f"exit {result.returncode}"
    print(
        f"[{name}] {len(result.outcomes)}/{result.planned} tests in "
        f"{_format_seconds(result.seconds)} ({state})",
        flush=True,
    )
    return result
