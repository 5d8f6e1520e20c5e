"""The native pass: our async ORM path on, and every thread hop counted.

``runtests.py`` builds ``INSTALLED_APPS`` itself, so ``django_async_backend``
is never an installed app there. :func:`install_native_path` does what the
app's ``ready()`` does (task-aware ``connections``, the request signals, the
native a-methods), from the test runner, before any test runs.

It also counts *thread hops*: ``asgiref.sync.sync_to_async`` calls whose
function ran a query. With the native path working, Django's a-methods never
hop; what remains is test code that calls ``sync_to_async`` itself, or ORM
entry points our native path does not cover. Each hop that reached the
database is appended to ``hops-<pid>.jsonl`` beside the event log, with the
running test and the function that hopped.
"""

from __future__ import annotations

import json
import os
import threading
import unittest
from typing import Any

from asgiref.sync import SyncToAsync
from django.db.backends import utils as backend_utils

from .recording import EVENTS_ENV

__all__ = ["install_native_path"]

_state = threading.local()
_current_test: list[str] = [""]
_installed = False


def _hop_log_path() -> str | None:
    events = os.environ.get(EVENTS_ENV)
    if not events:
        return None
    return os.path.join(os.path.dirname(events), f"hops-{os.getpid()}.jsonl")


def _write_hop(function: str) -> None:
    path = _hop_log_path()
    if path is None:
        return
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps({"test": _current_test[0], "function": function}) + "\n")


def _describe(func: Any) -> str:
    target = getattr(func, "func", func)  # functools.partial
    module = getattr(target, "__module__", "") or ""
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{name}"


def _count_hops() -> None:
    original_handler = SyncToAsync.thread_handler
    original_execute = backend_utils.CursorWrapper._execute_with_wrappers

    def thread_handler(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        outer = getattr(_state, "hop", None)
        hop: dict[str, Any] = {"function": _describe(self.func), "queried": False}
        _state.hop = hop
        try:
            return original_handler(self, *args, **kwargs)
        finally:
            _state.hop = outer
            if hop["queried"] and outer is None:
                _write_hop(hop["function"])

    def execute_with_wrappers(self: Any, *args: Any, **kwargs: Any) -> Any:
        hop = getattr(_state, "hop", None)
        if hop is not None:
            hop["queried"] = True
        return original_execute(self, *args, **kwargs)

    SyncToAsync.thread_handler = thread_handler  # type: ignore[method-assign]
    backend_utils.CursorWrapper._execute_with_wrappers = execute_with_wrappers

    original_run = unittest.TestCase.run

    def run(self: unittest.TestCase, result: Any = None) -> Any:
        _current_test[0] = self.id()
        return original_run(self, result)

    unittest.TestCase.run = run  # type: ignore[method-assign]


def install_native_path() -> None:
    """Install the native a-methods as the app would, and count hops."""
    global _installed
    if _installed:
        return
    _installed = True
    import django_async_backend
    from django_async_backend.apps import DjangoAsyncBackendConfig

    DjangoAsyncBackendConfig("django_async_backend", django_async_backend).ready()
    _count_hops()
