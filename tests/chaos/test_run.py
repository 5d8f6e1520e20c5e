"""``python -m chaos.run`` end to end, briefly (CI runs the short mode proper)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_sqlite_run_passes_every_check(tmp_path):
    # The whole suite end to end, briefly (CI runs the short mode proper).
    completed = subprocess.run(
        [sys.executable, "-m", "chaos.run", "--mode", "short", "--backend",
         "sqlite", "--duration", "3", "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    sqlite = results["short"]["backends"]["sqlite"]
    assert sqlite["transfers"] > 0 and sqlite["passed"]
    assert (tmp_path / "RESULTS.md").read_text().startswith("# Chaos suite results")
