"""Smoke test of the benchmark code (benchmarks/): every contender and
workload runs a few requests without errors, the ceiling's SQL is the SQL
Django sends, and the report (RESULTS.md, plots) is written. Tiny durations:
nothing here measures speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from benchmarks import percall as percall_module
from benchmarks import report, run, workloads
from benchmarks.contenders import CONTENDERS

pytestmark = pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="the benchmarks run on PostgreSQL",
)


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the benchmark processes at the test suite's server."""
    db = settings.DATABASES["default"]
    monkeypatch.setenv("PGHOST", db["HOST"] or "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(db["PORT"] or 5432))
    monkeypatch.setenv("PGUSER", db["USER"] or "postgres")
    monkeypatch.setenv("PGPASSWORD", db["PASSWORD"] or "")


@pytest.fixture
def database(pg_env: None) -> Iterator[str]:
    name = f"dab_bench_smoke_{os.getpid()}"
    run.prepare(name)
    yield name
    run.drop_database(name)


def test_ceiling_sql_is_djangos(pg_env: None) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.cell", "--sql"],
        cwd=run.ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.settings"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    orm = json.loads(out)
    orm["SQL_AUTHORS_BOOKS"] = orm["SQL_AUTHORS_BOOKS"].replace("%s, %s", "{}")
    assert orm == {name: getattr(workloads, name) for name in orm}


def test_every_contender_and_workload_runs(database: str, tmp_path: Path) -> None:
    rows = []
    for contender in CONTENDERS:
        if contender == "upstream":
            continue  # needs its own virtualenv (scripts/bench makes it)
        cells = [
            {"workload": w, "concurrency": 2, "warmup": 0.05, "duration": 0.15}
            for w in workloads.WORKLOADS
            if run.supports(contender, w)
        ]
        rows += run.run_client(contender, cells, database, None, sample=False)
    assert {(r["contender"], r["workload"]) for r in rows} == {
        (c, w)
        for c in CONTENDERS
        if c != "upstream"
        for w in workloads.WORKLOADS
        if run.supports(c, w)
    }
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in rows), rows

    meta = {
        "date": "now", "command": "smoke", "load_start": "0", "load_end": "0",
        "cpu": "cpu", "cores": 2, "memory_gib": 1, "os": "os", "python": "3",
        "django": "5", "psycopg": "3", "psycopg_pool": "3", "greenlet": "3",
        "postgresql": "15", "upstream": None, "rounds": 1, "warmup": 0.05,
        "duration": 0.15, "concurrency": [2], "e2e_duration": 1,
        "e2e_connections": 2, "runtime_seconds": 1,
    }  # fmt: skip
    args = argparse.Namespace(percall_calls=20, percall_rounds=1)
    percall = run.run_percall(args, database)
    assert {(r["workload"], r["variant"]) for r in percall} == {
        (w, v) for w in percall_module.WORKLOADS for v in percall_module.VARIANTS
    }
    assert all(r["client_us"] > 0 for r in percall), percall
    report.write({"meta": meta, "cells": rows, "percall": percall, "e2e": []}, tmp_path)
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| pk_get | 2 |" in text
    assert "| PK `aget` prepared / ours ≥ 1.6x |" in text
    assert "| CPU/call pk_get: prepared / plain aget ≤ 0.45x |" in text
    assert "## CPU per call: prepared querysets" in text
    assert (tmp_path / "plots" / "pk_get.png").stat().st_size > 0
