"""The libSQL contenders: which interpreter, ENGINE and ``NAME`` each one runs.

* ``ours_async``: our ENGINE (``django_async_backend.db.backends.libsql``) with
  ``django_async_backend`` installed: Django's a-methods run natively, each
  request a task, ``async_atomic`` for transactions.
* ``ours_sync``: the same ENGINE from the sync ORM, a thread per client (a
  threaded WSGI server).
* ``libsql_backend``: ``django-libsql-backend`` 0.1.3 from PyPI (ENGINE
  ``django_libsql``, stateless HTTP ``/v1``), sync ORM in threads.
* ``stock_sqlite``: Django's SQLite backend on a local file, the conformance
  table's reference column (no server; not in the throughput matrix).
* ``django_libsql``: the PyPI ``django-libsql`` 0.1.3 (ENGINE
  ``libsql.db.backends.sqlite3`` over ``libsql-client``'s WebSocket), sync ORM
  in threads.

The peers live in virtualenvs of their own (``.venvs/<venv>``, built by
``scripts/bench``) with the same interpreter and Django as ours; their client
processes run from ``.cache/bench-path`` so they never import this checkout's
``django_async_backend``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A directory with only a ``benchmarks`` symlink: a peer's process imports the
# benchmark code from it and nothing else of this checkout.
ISOLATED_PATH = ROOT / ".cache" / "bench-path"


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    engine: str
    venv: str | None  # None: this interpreter (ours)
    threaded: bool
    ws: bool = False  # NAME is the server's ws:// URL
    ours: bool = False  # django_async_backend installed
    local: bool = False  # NAME is a file (the reference), no sqld

    def python(self) -> str:
        if self.venv is None:
            return sys.executable
        return str(ROOT / ".venvs" / self.venv / "bin" / "python")

    def available(self) -> bool:
        return self.venv is None or os.path.exists(self.python())

    def cwd(self) -> Path:
        if self.venv is None:
            return ROOT
        ISOLATED_PATH.mkdir(parents=True, exist_ok=True)
        link = ISOLATED_PATH / "benchmarks"
        if not link.exists():
            link.symlink_to(ROOT / "benchmarks")
        return ISOLATED_PATH


OURS_ENGINE = "django_async_backend.db.backends.libsql"
CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender(
            "ours_async", "ours, async (a-methods)", OURS_ENGINE, None, False, ours=True
        ),
        Contender(
            "ours_sync", "ours, sync (threads)", OURS_ENGINE, None, True, ours=True
        ),
        Contender(
            "libsql_backend",
            "django-libsql-backend 0.1.3 (threads)",
            "django_libsql",
            "libsql-backend-py3.13",
            True,
        ),
        Contender(
            "django_libsql",
            "django-libsql 0.1.3 (threads)",
            "libsql.db.backends.sqlite3",
            "libsql-peer-py3.13",
            True,
            ws=True,
        ),
        # The conformance table's reference column: Django's own SQLite
        # backend on a local file, where every check holds.
        Contender(
            "stock_sqlite",
            "stock SQLite, local file (reference)",
            "django.db.backends.sqlite3",
            None,
            True,
            local=True,
        ),
    )
}
