"""Django's SQLite-flavoured suite on our libSQL ENGINE, beside stock SQLite.

    python -m tests_django.libsql --fast | --full   (scripts/tests-django-libsql)

Two passes of the installed Django's ``runtests.py``, same labels and options:

* ``sqlite``: ``django.db.backends.sqlite3`` (Django's ``test_sqlite.py``);
* ``libsql``: ``django_async_backend.db.backends.libsql``, remote mode, on a
  sqld this command starts on a free loopback port with namespaces (each
  alias's test database a namespace: ``settings/libsql.py``).

Both run with ``--parallel 1``: a libSQL server cannot clone a database
(no ``ATTACH``, no ``VACUUM INTO``), so the ENGINE says
``can_clone_databases = False`` and Django's parallel runner would refuse.
A test that passes on SQLite and fails on libSQL is a *difference*; each one
must be explained in ``tests_django/libsql_differences.py`` (a feature sqld
cannot have, declared in the ENGINE's ``features`` so the test skips, or a
known gap). Unexplained differences make the command fail. Full mode writes
``tests_django/RESULTS-libsql.md`` and ``results-libsql.json``; fast mode
(or ``--modules``) writes them under ``tests_django/work/fast-libsql/``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import django

from .libsql_report import differences, write_results
from .passes import WORK, PassResult, load_pass, run_pass
from .suite import fetch_tests

HERE = Path(__file__).resolve().parent

# Fast mode: the modules that exercise a SQLite backend's SQL, transactions,
# types, functions and schema editor hardest (about 3,800 tests, 3-4 minutes
# over HTTP on the 2-core development machine).
FAST_MODULES = [
    "aggregation",
    "annotations",
    "backends",
    "basic",
    "bulk_create",
    "datetimes",
    "db_functions",
    "delete",
    "expressions",
    "get_or_create",
    "lookup",
    "many_to_one",
    "model_fields",
    "prefetch_related",
    "queries",
    "schema",
    "select_related",
    "timezones",
    "transaction_hooks",
    "transactions",
    "update",
]
PASSES = ("sqlite", "libsql")


def run(
    args: argparse.Namespace, labels: list[str], timeout: float
) -> dict[str, PassResult]:
    from tests.sqld import Sqld

    tests_dir = fetch_tests(
        django.get_version(), os.environ.get("DAB_TD_INDEX", "https://pypi.org/simple/")
    )
    print(f"Django {django.get_version()} tests: {tests_dir}", flush=True)
    passes: dict[str, PassResult] = {}
    for name in PASSES:
        if args.report_only:
            if (WORK / name / "pass.json").exists():
                passes[name] = load_pass(name)
            continue
        if name == "sqlite":
            passes[name] = run_pass(name, tests_dir, labels, parallel=1,
                                    timeout=timeout, postgresql=False)  # fmt: skip
            continue
        with Sqld(namespaces=True) as server:
            assert server.admin_url is not None
            os.environ["DAB_TD_LIBSQL_URL"] = server.url
            os.environ["DAB_TD_LIBSQL_ADMIN_URL"] = server.admin_url
            print(f"[libsql] sqld {server.url} (admin {server.admin_url})", flush=True)
            passes[name] = run_pass(name, tests_dir, labels, parallel=1,
                                    timeout=timeout, postgresql=False)  # fmt: skip
    return passes


def sqld_version() -> str:
    from tests.sqld import sqld_binary

    binary = sqld_binary()
    if binary is None:
        return "?"
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    return done.stdout.strip().removeprefix("sqld ") or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", action="store_const", dest="mode", const="fast")
    mode.add_argument("--full", action="store_const", dest="mode", const="full")
    parser.add_argument("--modules", help="comma-separated test labels instead")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per pass before it is killed (fast 900, full 7200)",
    )
    parser.add_argument("--command", help="the command to record in the results")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: compare what the last run left in work/",
    )
    args = parser.parse_args(argv)
    mode_name = args.mode or "fast"
    timeout = args.timeout or (900.0 if mode_name == "fast" else 7200.0)
    if args.modules:
        labels = [m.strip() for m in args.modules.split(",") if m.strip()]
    else:
        labels = FAST_MODULES if mode_name == "fast" else []
    passes = run(args, labels, timeout)
    if set(passes) != set(PASSES):
        print("the last run left no passes to compare", file=sys.stderr)
        return 2
    found = differences(passes["sqlite"], passes["libsql"])
    versions = {
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "sqld": sqld_version(),
    }
    command = args.command or "python -m tests_django.libsql " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    if mode_name == "full" and not args.modules:
        out, stem = HERE, "RESULTS-libsql"
    else:
        out, stem = WORK / f"{mode_name}-libsql", "RESULTS"
    path = write_results(out, stem, mode=mode_name, command=command,
                         versions=versions, passes=passes, found=found)  # fmt: skip
    text = path.read_text()
    print(text.split("## Differences")[0], flush=True)
    for item in found["unexplained"]:
        print(f"UNEXPLAINED [{item['outcome']}] {item['test']}")
        print("    " + item["detail"][-600:].replace("\n", "\n    "))
    broken = [p.name for p in passes.values() if not p.complete]
    if broken:
        print(f"Passes that timed out or did not finish: {', '.join(broken)}")
    print(f"Results: {path}")
    return 1 if found["unexplained"] or broken else 0


if __name__ == "__main__":
    sys.exit(main())
