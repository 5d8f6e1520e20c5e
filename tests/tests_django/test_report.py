"""tests_django's comparison and its results file (no Django suite needed).

Tools read RESULTS.md's count lines, so their shape is part of the result;
the comparison decides what counts as a regression.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests_django.passes import PassResult
from tests_django.report import compare, unexplained_hops, write_results

COUNT_LINE = re.compile(
    r"^(ours|stock|native async): (\d+) tests, (\d+) passed, (\d+) failed, "
    r"(\d+) errors, (\d+) skipped$"
)


def finished(tmp_path: Path, name: str, outcomes: dict[str, str]) -> PassResult:
    """A pass whose runner reached its summary line."""
    log = tmp_path / f"{name}.log"
    log.write_text(f"....\nRan {len(outcomes)} tests in 1.0s\n")
    return PassResult(
        name=name,
        command=["python", "runtests.py", "--settings", f"s.{name}"],
        labels=[],
        outcomes=dict(outcomes),
        log=str(log),
    )


def test_a_test_passing_on_stock_and_failing_on_ours_is_a_regression(tmp_path):
    stock = finished(
        tmp_path,
        "stock",
        {"a.T.ok": "passed", "a.T.broken": "passed", "a.T.root": "failed"},
    )
    ours = finished(
        tmp_path,
        "ours",
        {"a.T.ok": "passed", "a.T.broken": "error", "a.T.root": "failed"},
    )
    assert [(r["test"], r["outcome"]) for r in compare(stock, ours)] == [
        ("a.T.broken", "error")
    ]


def test_tests_a_crashed_pass_never_reached_count_as_regressions(tmp_path):
    stock = finished(tmp_path, "stock", {"a.T.x": "passed", "b.T.y": "passed"})
    ours = PassResult(
        name="ours",
        command=["python", "runtests.py"],
        labels=[],
        outcomes={"a.T.x": "passed"},
        log=str(tmp_path / "missing.log"),  # no summary: the runner crashed
    )
    assert not ours.complete
    assert [(r["test"], r["outcome"]) for r in compare(stock, ours)] == [
        ("b.T.y", "not run")
    ]


def test_results_file_has_the_count_lines_tools_read(tmp_path):
    stock = finished(
        tmp_path, "stock", {"a.T.x": "passed", "a.T.y": "skipped", "a.T.z": "failed"}
    )
    ours = finished(
        tmp_path, "ours", {"a.T.x": "error", "a.T.y": "skipped", "a.T.z": "failed"}
    )
    native = finished(tmp_path, "native", {"a.T.x": "passed"})
    regressions = compare(stock, ours) + compare(stock, native)
    write_results(
        tmp_path / "out",
        mode="full",
        command="scripts/tests-django --full",
        versions={"Python": "3.11", "Django": "5.2"},
        passes={"ours": ours, "stock": stock, "native": native},
        regressions=regressions,
        deliberate=[],
    )
    text = (tmp_path / "out" / "RESULTS.md").read_text()
    counts = {
        m.group(1): tuple(int(n) for n in m.groups()[1:])
        for line in text.splitlines()
        if (m := COUNT_LINE.match(line))
    }
    assert counts == {
        "ours": (3, 0, 1, 1, 1),
        "stock": (3, 1, 1, 0, 1),
        "native async": (1, 1, 0, 0, 0),
    }
    assert "regressions: 1" in text.splitlines()
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["passes"]["ours"]["errors"] == 1
    assert [r["test"] for r in data["regressions"]] == ["a.T.x"]


def test_a_hop_without_a_note_is_unexplained(tmp_path):
    native = finished(tmp_path, "native", {})
    native.hops = [
        {"function": "myapp.views.sync_view", "test": "myapp.tests.T.test"},
        {
            "function": "django.contrib.auth.login",
            "test": "auth_tests.test_middleware.T.test_auser_after_login",
        },
    ]
    assert [h["function"] for h in unexplained_hops(native)] == [
        "myapp.views.sync_view"
    ]
