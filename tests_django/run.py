"""Run Django's own test suite against django_async_backend's ENGINE.

    python -m tests_django.run --fast | --full   (scripts/tests-django wraps it)

Three passes on the same PostgreSQL server, each ``runtests.py`` of the
installed Django's sdist with the same options, apps and parallelism:

* ``ours``: our ENGINE, as a drop-in replacement for Django's;
* ``stock``: ``django.db.backends.postgresql``;
* ``native``: our ENGINE with the native paths installed (the async ORM and
  the request path), on the modules whose tests use Django's async ORM
  (found by scanning the tests) and the request-path modules
  (``REQUEST_MODULES``), counting the thread hops (``sync_to_async`` calls
  that ran a query) left.

Tests that pass on stock and fail on ours (or native) are regressions; the
command exits non-zero if there is any, or if a pass timed out or crashed.
Full mode writes ``RESULTS.md`` and ``results.json`` under
``tests_django/django-<major>.<minor>/`` (one per Django version); fast mode
writes them under ``tests_django/work/fast/``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path

import django

from .passes import WORK, PassResult, load_pass, run_pass, server_conninfo
from .report import compare, split_deliberate, unexplained_hops, write_results
from .suite import async_modules, fetch_tests

HERE = Path(__file__).resolve().parent

# Fast mode: the modules that exercise the database layer hardest, and (for
# the native pass) the async ORM, auth and sessions.
FAST_MODULES = [
    "aggregation",
    "asgi",
    "async",
    "auth_tests",
    "backends",
    "basic",
    "bulk_create",
    "csrf_tests",
    "delete",
    "expressions",
    "generic_relations",
    "get_or_create",
    "handlers",
    "many_to_many",
    "many_to_one",
    "messages_tests",
    "middleware",
    "model_fields",
    "prefetch_related",
    "queries",
    "requests_tests",
    "select_for_update",
    "select_related",
    "sessions_tests",
    "signals",
    "test_client",
    "transaction_hooks",
    "transactions",
    "update",
    "update_only_fields",
]

# Django's request path (handlers, middleware, sessions, auth, messages): the
# native pass runs them too, with the native request path on.
REQUEST_MODULES = [
    "asgi",
    "auth_tests",
    "csrf_tests",
    "handlers",
    "messages_tests",
    "middleware",
    "requests_tests",
    "sessions_tests",
]


def _server_version() -> str:
    import psycopg

    with psycopg.connect(server_conninfo()) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", action="store_const", dest="mode", const="fast")
    mode.add_argument("--full", action="store_const", dest="mode", const="full")
    parser.add_argument(
        "--passes",
        default="stock,ours,native",
        help="comma-separated subset of stock,ours,native (default: all)",
    )
    parser.add_argument(
        "--modules", help="comma-separated test modules instead of the mode's"
    )
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per pass before it is killed (fast 900, full 3600)",
    )
    parser.add_argument("--command", help="the command to record in the results")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: compare the passes the last run left in "
        "tests_django/work/ and write the results again",
    )
    args = parser.parse_args(argv)
    mode_name = args.mode or "fast"
    timeout = args.timeout or (900.0 if mode_name == "fast" else 3600.0)
    wanted = [name.strip() for name in args.passes.split(",") if name.strip()]
    if "stock" not in wanted:
        parser.error("the stock pass is the baseline: keep it in --passes")

    version = django.get_version()
    tests_dir = fetch_tests(
        version, os.environ.get("DAB_TD_INDEX", "https://pypi.org/simple/")
    )
    if args.modules:
        labels = [m.strip() for m in args.modules.split(",") if m.strip()]
    elif mode_name == "fast":
        labels = FAST_MODULES
    else:
        labels = []  # all of them
    scanned = async_modules(tests_dir)
    native_modules = sorted(set(scanned) | set(REQUEST_MODULES))
    if labels:
        native_labels = [
            m for m in native_modules if m in {label.split(".")[0] for label in labels}
        ]
    else:
        native_labels = native_modules
    print(f"Django {version} tests: {tests_dir}", flush=True)
    print(f"Modules using the async ORM: {', '.join(scanned)}", flush=True)

    passes: dict[str, PassResult] = {}
    for name in ("ours", "stock", "native"):
        if name not in wanted:
            continue
        if args.report_only:
            if (WORK / name / "pass.json").exists():
                passes[name] = load_pass(name)
            continue
        if name == "native":
            if not native_labels:
                continue
            passes[name] = run_pass(
                name,
                tests_dir,
                native_labels,
                parallel=args.parallel,
                timeout=timeout,
                native=True,
            )
        else:
            passes[name] = run_pass(
                name, tests_dir, labels, parallel=args.parallel, timeout=timeout
            )

    stock = passes["stock"]
    regressions = []
    for name in ("ours", "native"):
        if name in passes:
            regressions += compare(stock, passes[name])
    regressions, deliberate = split_deliberate(regressions)

    versions = {
        "Python": platform.python_version(),
        "Django": version,
        "PostgreSQL": _server_version(),
    }
    command = args.command or "python -m tests_django.run " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    major_minor = ".".join(version.split(".")[:2])
    if mode_name == "full" and not args.modules:
        out = HERE / f"django-{major_minor}"
    else:
        out = WORK / mode_name
    write_results(
        out,
        mode=mode_name,
        command=command,
        versions=versions,
        passes=passes,
        regressions=regressions,
        deliberate=deliberate,
    )
    print((out / "RESULTS.md").read_text().split("## Regressions")[0], flush=True)
    for item in regressions:
        print(f"REGRESSION [{item['pass']}] {item['test']}: {item['outcome']}")
        print("    " + item["detail"][-800:].replace("\n", "\n    "))
    unexplained = unexplained_hops(passes["native"]) if "native" in passes else []
    for hop in unexplained:
        print(f"UNEXPLAINED THREAD HOP {hop['function']} in {hop['test']}")
    broken = [p.name for p in passes.values() if not p.complete]
    if broken:
        print(f"Passes that timed out or did not finish: {', '.join(broken)}")
    print(f"Results: {out / 'RESULTS.md'}")
    return 1 if regressions or broken or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
