"""Smoke test of the libSQL benchmarks (benchmarks/libsql/): the quick mode
runs end to end on a real sqld, the conformance checks hold on Django's own
SQLite backend (so a ❌ in the table is the contender's, not the check's), and
the section lands in RESULTS.md between its markers, leaving the rest alone.
Tiny windows: nothing here measures speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from benchmarks.libsql import report
from benchmarks.libsql.checks import CHECKS
from tests.sqld import sqld_binary

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="runs once, on the PostgreSQL leg (it needs no database of its own)",
    ),
    pytest.mark.skipif(
        sqld_binary() is None, reason="sqld is not installed (scripts/sqld --install)"
    ),
]


def test_quick_mode_runs_and_reports(tmp_path: Path) -> None:
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmark results\n\nthe PostgreSQL part\n")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [
            sys.executable, "-m", "benchmarks.libsql", "--quick",
            "--workloads", "pk_get,atomic3", "--concurrency", "1,8",
            "--contenders", "ours_async,ours_sync",
            "--conformance-contenders", "ours_async,ours_sync,stock_sqlite",
            "--out", str(tmp_path),
        ],
        cwd=ROOT, env=env, check=True, timeout=600,
    )  # fmt: skip
    raw = json.loads((tmp_path / "results.json").read_text())

    conformance = raw["conformance"]["results"]
    assert set(conformance) == {"ours_async", "ours_sync", "stock_sqlite"}
    for outcomes in conformance.values():
        assert set(outcomes) == {key for key, _ in CHECKS}
    # Django's SQLite backend passes every check: the checks are right.
    assert all(o["ok"] for o in conformance["stock_sqlite"].values()), conformance

    cells = raw["throughput"]["cells"]
    assert {(c["contender"], c["workload"], c["concurrency"]) for c in cells} == {
        (name, workload, c)
        for name in ("ours_async", "ours_sync")
        for workload in ("pk_get", "atomic3")
        for c in (1, 8)
    }
    assert all(c["failure"] is None and c["requests"] > 0 for c in cells), cells

    text = results_md.read_text()
    assert text.startswith("# Benchmark results\n\nthe PostgreSQL part\n")
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    assert "### Conformance" in text and "#### pk_get" in text
    assert "not a measurement" in text
    # Writing again replaces the block instead of adding one.
    report.write(raw, tmp_path, results_md)
    assert results_md.read_text().count(report.BEGIN) == 1


def test_postgresql_report_keeps_the_libsql_block(tmp_path: Path) -> None:
    block = f"{report.BEGIN}\n## libSQL\n\nkept\n{report.END}\n"
    text = f"# old\n\n{block}"
    assert report.existing_block(text) == block
    assert report.splice("# new\n", block) == f"# new\n\n{block}"
    assert report.splice(f"# new\n\n{block}", block.replace("kept", "new")) == (
        f"# new\n\n{block.replace('kept', 'new')}"
    )
