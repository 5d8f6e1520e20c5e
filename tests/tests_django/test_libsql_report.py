"""The libSQL pass's comparison and its results file (no Django suite needed).

A test passing on SQLite and failing on libSQL is a difference; an explained
one (``libsql_differences.EXPLAINED``, longest prefix wins) carries its reason,
an unexplained one fails the run. Skips only libSQL has are grouped by reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests_django import libsql_report
from tests_django.passes import PassResult

COUNT_LINE = re.compile(
    r"^(stock sqlite|libsql): (\d+) tests, (\d+) passed, (\d+) failed, "
    r"(\d+) errors, (\d+) skipped$"
)


def finished(tmp_path: Path, name: str, outcomes: dict[str, str],
             details: dict[str, str] | None = None) -> PassResult:  # fmt: skip
    log = tmp_path / f"{name}.log"
    log.write_text(f"....\nRan {len(outcomes)} tests in 1.0s\n")
    return PassResult(
        name=name, command=["python", "runtests.py", "--settings", f"s.{name}"],
        labels=[], outcomes=dict(outcomes), details=dict(details or {}), log=str(log),
    )  # fmt: skip


@pytest.fixture
def explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        libsql_report,
        "EXPLAINED",
        {"a.T.": "module-wide reason", "a.T.special": "the specific reason"},
    )


def test_differences_are_explained_by_the_longest_prefix_or_unexplained(
    tmp_path: Path, explained: None
) -> None:
    sqlite = finished(tmp_path, "sqlite", {
        "a.T.one": "passed", "a.T.special": "passed", "b.T.new": "passed",
        "b.T.skipped": "passed", "b.T.fixed": "failed", "b.T.same": "passed",
    })  # fmt: skip
    libsql = finished(
        tmp_path, "libsql",
        {"a.T.one": "error", "a.T.special": "failed", "b.T.new": "error",
         "b.T.skipped": "skipped", "b.T.fixed": "passed", "b.T.same": "passed"},
        {"b.T.skipped": "sqld refuses ATTACH\nmore"},
    )  # fmt: skip
    found = libsql_report.differences(sqlite, libsql)
    assert {(i["test"], i["reason"]) for i in found["explained"]} == {
        ("a.T.one", "module-wide reason"),
        ("a.T.special", "the specific reason"),
    }
    assert [i["test"] for i in found["unexplained"]] == ["b.T.new"]
    assert found["skipped_only_on_libsql"] == {"sqld refuses ATTACH": 1}
    assert found["better_on_libsql"] == ["b.T.fixed"]

    path = libsql_report.write_results(
        tmp_path / "out", "RESULTS-libsql", mode="full", command="cmd",
        versions={"Django": "5.2"}, passes={"sqlite": sqlite, "libsql": libsql},
        found=found,
    )  # fmt: skip
    text = path.read_text()
    counts = [m.groups() for line in text.splitlines() if (m := COUNT_LINE.match(line))]
    assert [c[0] for c in counts] == ["stock sqlite", "libsql"]
    assert "differences: 3 (1 unexplained, 0 known gaps)" in text
    assert "* `b.T.new`: error" in text
    assert "1 x sqld refuses ATTACH" in text
    data = json.loads((tmp_path / "out" / "results-libsql.json").read_text())
    assert data["passes"]["libsql"]["errors"] == 2
    assert [i["test"] for i in data["unexplained"]] == ["b.T.new"]
