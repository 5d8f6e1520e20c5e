"""A Django test runner that records every test's outcome as it happens.

``runtests.py --testrunner tests_django.recording.RecordingRunner`` uses it in
each pass. Outcomes are appended, one JSON object per line, to the file named
by ``DAB_TD_EVENTS`` while the suite runs, so the harness can show progress
and a pass that hangs or crashes still leaves every outcome it reached. In
parallel mode Django's workers send their results to the main process's
result object, so recording there sees every test.
"""

from __future__ import annotations

import json
import os
import traceback
import unittest
from typing import Any

from django.test.runner import DiscoverRunner

__all__ = ["RecordingResult", "RecordingRunner"]

EVENTS_ENV = "DAB_TD_EVENTS"
NATIVE_ENV = "DAB_TD_NATIVE"


class _EventLog:
    def __init__(self, path: str) -> None:
        self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def write(self, **event: Any) -> None:
        self._file.write(json.dumps(event) + "\n")


_log: _EventLog | None = None


def _events() -> _EventLog | None:
    global _log
    if _log is None and os.environ.get(EVENTS_ENV):
        _log = _EventLog(os.environ[EVENTS_ENV])
    return _log


def _detail(err: Any) -> str:
    """The end of a traceback: enough to tell failures apart in a report."""
    if err is None:
        return ""
    try:
        lines = traceback.format_exception(*err)
    except Exception:
        return repr(err[1])
    text = "".join(lines)
    return text[-2000:]


class RecordingResult(unittest.TextTestResult):
    """``TextTestResult`` that also appends each outcome to the event log."""

    def _record(self, test: Any, outcome: str, detail: str = "") -> None:
        log = _events()
        if log is not None:
            log.write(kind="outcome", id=test.id(), outcome=outcome, detail=detail)

    def addSuccess(self, test: Any) -> None:
        super().addSuccess(test)
        self._record(test, "passed")

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._record(test, "error", _detail(err))

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._record(test, "failed", _detail(err))

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._record(test, "expected_failure")

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "unexpected_success")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._record(
                test,
                "failed" if failed else "error",
                f"subtest {subtest._subDescription()}\n{_detail(err)}",
            )


class RecordingRunner(DiscoverRunner):
    """Django's runner, recording outcomes (and, natively, thread hops)."""

    def build_suite(self, *args: Any, **kwargs: Any) -> Any:
        suite = super().build_suite(*args, **kwargs)
        log = _events()
        if log is not None:
            log.write(kind="total", count=suite.countTestCases())
        return suite

    def setup_test_environment(self, **kwargs: Any) -> None:
        super().setup_test_environment(**kwargs)
        if os.environ.get(NATIVE_ENV):
            # Before the parallel workers fork, so they inherit it.
            from .native_hook import install_native_path

            install_native_path()

    def get_resultclass(self) -> Any:
        return super().get_resultclass() or RecordingResult
