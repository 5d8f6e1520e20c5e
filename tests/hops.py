"""Counting thread hops: ``asgiref.sync.SyncToAsync`` constructions and
thread starts, around a block of code.

On SQLite each connection has a thread of its own (the C library blocks):
those threads, one per connection and not per call, are the ENGINE's design,
not a hop, and are not counted; nor is the libSQL ENGINE's one keep-alive
thread for sync transactions (a process-wide daemon, not a hop).
"""

from __future__ import annotations

import threading

from asgiref import sync

from django_async_backend.db.backends.libsql.remote.client import PINGER_THREAD_NAME
from django_async_backend.db.backends.sqlite3.worker import THREAD_NAME_PREFIX

ALLOWED = {"check_password", "make_password", "set_password", "verify_password"}


class HopCounter:
    def __init__(self) -> None:
        self.sync_to_async: list[str] = []
        self.allowed: list[str] = []
        self.threads: list[str] = []

    def unexplained_threads(self) -> list[str]:
        """Threads not serving an allowed hop (the event loop's default
        executor and its shutdown helper do, when there was one)."""
        if not self.allowed:
            return self.threads
        return [
            name
            for name in self.threads
            if not (name.startswith("asyncio_") or "_do_shutdown" in name)
        ]

    def __enter__(self) -> HopCounter:
        counter = self
        self._init = sync.SyncToAsync.__init__
        self._start = threading.Thread.start
        original_init, original_start = self._init, self._start

        def init(self, func, *args, **kwargs):
            name = getattr(func, "__name__", type(func).__name__)
            (counter.allowed if name in ALLOWED else counter.sync_to_async).append(name)
            original_init(self, func, *args, **kwargs)

        def start(self):
            # libSQL's one keep-alive thread for sync transactions, likewise.
            if not self.name.startswith((THREAD_NAME_PREFIX, PINGER_THREAD_NAME)):
                counter.threads.append(self.name)
            original_start(self)

        sync.SyncToAsync.__init__ = init
        threading.Thread.start = start
        return self

    def __exit__(self, *exc_info) -> None:
        sync.SyncToAsync.__init__ = self._init
        threading.Thread.start = self._start
