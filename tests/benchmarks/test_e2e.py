"""Smoke test of the end-to-end benchmark (benchmarks/e2e/): every contender
serves both pages on each of its servers, the hop count sees our zero and
stock async's hops, and the report renders its tables and targets. Nothing
here measures speed."""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from benchmarks.e2e import report, runner

pytestmark = pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="the benchmarks run on PostgreSQL",
)


@pytest.fixture
def e2e_database(monkeypatch: pytest.MonkeyPatch):
    db = settings.DATABASES["default"]
    monkeypatch.setenv("PGHOST", db["HOST"] or "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(db["PORT"] or 5432))
    monkeypatch.setenv("PGUSER", db["USER"] or "postgres")
    monkeypatch.setenv("PGPASSWORD", db["PASSWORD"] or "")
    name = f"dab_bench_e2e_smoke_{os.getpid()}"
    login = runner.prepare(name)
    yield name, login
    runner.drop_database(name)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for init to reap it doesn't)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_every_contender_serves_both_pages_on_each_server(e2e_database):
    database, login = e2e_database
    headers = {"Cookie": login["cookie"], "X-CSRFToken": login["csrftoken"]}
    for contender, server in runner.SERVERS:
        if contender == "upstream":
            continue  # needs its own virtualenv (scripts/bench makes it)
        with runner.Server(contender, server, database, None) as running:
            page = httpx.get(f"{running.url}/page/7/", headers=headers, timeout=30)
            assert page.status_code == 200, (contender, server, page.text)
            assert page.json()["user"] == "bench"
            assert len(page.json()["others"]) == 10
            write = httpx.post(f"{running.url}/write/3/", headers=headers, timeout=30)
            assert write.status_code == 200, (contender, server, write.text)
            anonymous = httpx.get(f"{running.url}/page/7/", timeout=30)
            assert anonymous.status_code == 403
            tree = runner.process_tree(running.pid)
        # Nothing of the server is left (granian's worker once outlived its
        # parent and kept its database connections).
        assert not [pid for pid in tree if _alive(pid)], tree


def test_hops_are_counted(e2e_database):
    database, login = e2e_database
    args = argparse.Namespace(upstream_python=None)
    ours = runner.count_hops("ours", args, login, database)
    stock = runner.count_hops("stock_async", args, login, database)
    assert ours == {"contender": "ours", "page": 0, "write": 0}
    assert stock["page"] > 5 and stock["write"] > 5


class _SlowHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(2.3)  # past wrk's default 2 s timeout
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_keeps_responses_slower_than_its_default_timeout():
    # A saturated contender's slow responses must count in its latency, not
    # vanish as timeouts (which capped stock's p99 at c = 128 just under 2 s).
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        login = {"cookie": "", "csrftoken": "", "books": 1, "authors": 1}
        measured = runner.wrk(url, "page", 3, 1, login)
    finally:
        server.shutdown()
    assert measured["timeouts"] == 0, measured
    assert measured["requests"] >= 1
    assert measured["p99_ms"] >= 2000, measured


def test_the_report_renders_tables_and_targets(tmp_path: Path):
    def cell(contender, server, workload, rps, p99):
        return {
            "contender": contender, "server": server, "workload": workload,
            "connections": 32, "round": 0, "rps": rps, "p50_ms": 1.0,
            "p99_ms": p99, "errors": 0, "server_cpu_ms_per_request": 1.0,
            "server_peak_rss_mib": 50.0, "server_connections": 20,
        }  # fmt: skip

    cells = []
    for workload in runner.WORKLOADS:
        cells += [
            cell("ours", "uvicorn", workload, 500, 80),
            cell("stock_async", "uvicorn", workload, 200, 300),
            cell("stock_sync", "gunicorn", workload, 400, 120),
        ]
    e2e = {"cells": cells, "hops": [{"contender": "ours", "page": 0, "write": 0}]}
    targets = report.e2e_targets(e2e)
    assert ("e2e page c=32: ours / stock async on uvicorn ≥ 2.0x", "2.50x", "yes") in (
        targets
    )
    assert any(t[0].startswith("e2e write c=32: ours on its best") for t in targets)
    text = "\n".join(report.e2e_section(e2e, {"e2e_duration": 5}))
    assert "| ours | uvicorn | 32 | 500 | 2.50x |" in text
    report.e2e_plot(e2e, tmp_path)
    assert (tmp_path / "e2e.png").stat().st_size > 0
